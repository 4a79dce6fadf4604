package placement

import (
	"errors"
	"fmt"
	"slices"
)

// ValidateInput lists every problem of in that the engine would otherwise
// resolve silently (see DESIGN.md): duplicate or empty ids and names,
// negative or oversized values, unknown isolation values, shards without
// backends, and in-flight moves onto the same shard.
func ValidateInput(in Input) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...))
	}
	checkLoad := func(what, name string, l Load) {
		for d := 0; d < dims; d++ {
			if v := l.at(d); v < 0 || v > MaxValue {
				bad("%s %q: %s %d out of [0, %d]", what, name, dimNames[d], v, MaxValue)
			}
		}
	}
	ids := make([]string, 0, len(in.Shards))
	for _, sh := range in.Shards {
		ids = append(ids, sh.ID)
		if sh.ID == "" {
			bad("shard with empty id")
		}
		if len(sh.Backends) == 0 {
			bad("shard %q serves no backend", sh.ID)
		}
		checkLoad("shard", sh.ID, sh.Capacity)
	}
	names := make([]string, 0, len(in.Namespaces))
	for _, ns := range in.Namespaces {
		names = append(names, ns.Name)
		if ns.Name == "" {
			bad("namespace with empty name")
		}
		switch ns.Isolation {
		case IsolationDefault, IsolationShared, IsolationDedicated:
		default:
			bad("namespace %q: unknown isolation %q", ns.Name, ns.Isolation)
		}
		if ns.Moving != nil && ns.Moving.From == ns.Moving.To {
			bad("namespace %q: in-flight move from %q to itself", ns.Name, ns.Moving.From)
		}
		checkLoad("namespace", ns.Name, ns.Demand)
	}
	for _, d := range dupes(ids) {
		bad("duplicate shard id %q", d)
	}
	for _, d := range dupes(names) {
		bad("duplicate namespace name %q", d)
	}
	return errors.Join(errs...)
}

func dupes(xs []string) []string {
	slices.Sort(xs)
	var out []string
	for i := 1; i < len(xs); i++ {
		if xs[i] == xs[i-1] && (len(out) == 0 || out[len(out)-1] != xs[i]) {
			out = append(out, xs[i])
		}
	}
	return out
}
