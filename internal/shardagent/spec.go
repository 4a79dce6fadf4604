package shardagent

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// ErrInvalidSpec prefixes every problem ParseSpec finds.
var ErrInvalidSpec = errors.New("shardagent: invalid shard")

// ParseSpec builds a shard spec from the command-line forms shared by
// prism-shard and `prismctl shard register`: comma lists for endpoints and
// backends, "read_rps=N,write_rps=N,data_gb=N" for capacity and "k=v,..."
// for labels. It reports every problem at once.
func ParseSpec(id, endpoints, backends, capacity, labels string) (*fsmpb.ShardSpec, error) {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidSpec}, a...)...))
	}
	spec := &fsmpb.ShardSpec{Id: id, Endpoints: SplitList(endpoints), Backends: SplitList(backends), Capacity: &fsmpb.ShardCapacity{}}
	sort.Strings(spec.Backends)
	kv, err := ParseKV(capacity)
	if err != nil {
		bad("--capacity: %v", err)
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f, err := strconv.ParseFloat(kv[k], 64)
		if err != nil || f < 0 {
			bad("--capacity %s=%q: not a non-negative number", k, kv[k])
			continue
		}
		switch k {
		case "read_rps":
			spec.Capacity.ReadRps = int64(f)
		case "write_rps":
			spec.Capacity.WriteRps = int64(f)
		case "data_gb":
			spec.Capacity.DataGb = f
		default:
			bad("--capacity: unknown key %q (read_rps, write_rps, data_gb)", k)
		}
	}
	if spec.Labels, err = ParseKV(labels); err != nil {
		bad("--labels: %v", err)
	}
	return spec, errors.Join(errs...)
}

// SplitList splits a comma list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ParseKV parses "k=v,k=v".
func ParseKV(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, p := range SplitList(s) {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return nil, fmt.Errorf("%q is not key=value", p)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}
