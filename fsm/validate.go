package fsm

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision/plan"
)

// Allowed values of the enumerated spec fields, sorted. Callers may read
// them (for help texts, completion); validation uses its own copies.
var (
	Abstractions  = []string{"document", "graph", "keyvalue", "pubsub", "queue", "timeseries"}
	Consistencies = []string{"eventual", "strong"} // "" means strong
	OwnerKinds    = []string{"service", "team", "user"}
	AccessModes   = []string{"read-only", "read-write"}
	Isolations    = []string{"dedicated", "shared"} // "" means decided by size
	OnDelete      = []string{"delete", "retain"}    // "" means delete
)

// MaxNameLen is the longest namespace name (a DNS label).
const MaxNameLen = 63

var (
	abstractions  = slices.Clone(Abstractions)
	consistencies = slices.Clone(Consistencies)
	ownerKinds    = slices.Clone(OwnerKinds)
	accessModes   = slices.Clone(AccessModes)
	isolations    = slices.Clone(Isolations)
	onDelete      = slices.Clone(OnDelete)

	nameRE    = regexp.MustCompile(`^[a-z]([a-z0-9-]*[a-z0-9])?$`)
	backendRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)
	plainKey  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// JoinPath appends a map key to a field path: "a" + "b" gives "a.b", and a
// key that is not a plain word is quoted: `a["x.y"]`. Parsers use it so the
// paths they record match the paths ValidateSpec reports.
func JoinPath(prefix, key string) string {
	if !plainKey.MatchString(key) {
		return fmt.Sprintf("%s[%q]", prefix, key)
	}
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// CheckSpec is ValidateSpec as an error: nil or a *ValidationError.
func CheckSpec(s *fsmpb.NamespaceSpec) error {
	if fields := ValidateSpec(s); len(fields) > 0 {
		return &ValidationError{Fields: fields}
	}
	return nil
}

// ValidateSpec returns every problem with the spec (not only the first),
// named by the YAML paths of the namespace file. It is pure.
func ValidateSpec(s *fsmpb.NamespaceSpec) []FieldError {
	if s == nil {
		return []FieldError{{Path: "", Message: "namespace spec is required"}}
	}
	v := &validator{}
	v.name(s.GetName())
	v.oneOf("abstraction", s.GetAbstraction(), abstractions, true)
	v.backend(s.GetBackend())
	v.capacity(s.GetCapacity())
	v.policies(s.GetPolicies())
	v.access(s.GetAccess())
	v.backendConfig(s.GetBackendConfigJson(), s.GetBackend())
	v.placement(s.GetPlacement())
	if nameRE.MatchString(s.GetName()) && backendRE.MatchString(s.GetBackend()) {
		for _, p := range plan.Check(s) {
			v.add(p.Path, "%s", p.Message)
		}
	}
	return v.errs
}

type validator struct{ errs []FieldError }

func (v *validator) add(path, format string, args ...any) {
	v.errs = append(v.errs, FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) name(n string) { v.dnsName("namespace", n) }

// dnsName checks a name used as an id: lowercase letters, digits and '-'.
func (v *validator) dnsName(path, n string) {
	switch {
	case n == "":
		v.add(path, "is required")
	case len(n) > MaxNameLen:
		v.add(path, "must be at most %d characters (got %d)", MaxNameLen, len(n))
	case !nameRE.MatchString(n):
		v.add(path, "must be lowercase letters, digits and '-', start with a letter and end with a letter or digit (got %q)", n)
	}
}

func (v *validator) oneOf(path, val string, allowed []string, required bool) {
	switch {
	case val == "" && required:
		v.add(path, "is required (one of %s)", strings.Join(allowed, ", "))
	case val != "" && !slices.Contains(allowed, val):
		v.add(path, "must be one of %s (got %q)", strings.Join(allowed, ", "), val)
	}
}

func (v *validator) backend(b string) {
	switch {
	case b == "":
		v.add("backend", "is required")
	case !backendRE.MatchString(b):
		v.add("backend", "must be 1-32 lowercase letters, digits, '_' or '-', starting with a letter (got %q)", b)
	}
}

func (v *validator) capacity(c *fsmpb.Capacity) {
	if c.GetEstimatedReadRps() < 0 {
		v.add("capacity.estimated_read_rps", "must be >= 0 (got %d)", c.GetEstimatedReadRps())
	}
	if c.GetEstimatedWriteRps() < 0 {
		v.add("capacity.estimated_write_rps", "must be >= 0 (got %d)", c.GetEstimatedWriteRps())
	}
	if gb := c.GetEstimatedDataSizeGb(); gb < 0 || math.IsNaN(gb) || math.IsInf(gb, 0) {
		v.add("capacity.estimated_data_size_gb", "must be a finite number >= 0 (got %v)", gb)
	}
}

func (v *validator) policies(p *fsmpb.Policies) {
	if p == nil {
		return
	}
	v.oneOf("policies.consistency", p.GetConsistency(), consistencies, false)
	v.oneOf("policies.on_delete", p.GetOnDelete(), onDelete, false)
	if p.RetentionDays != nil && p.GetRetentionDays() < 1 {
		v.add("policies.retention_days", "must be >= 1 when set (got %d); leave it null to keep forever", p.GetRetentionDays())
	}
	if p.CacheTtlSeconds != nil && p.GetCacheTtlSeconds() < 0 {
		v.add("policies.cache_ttl_seconds", "must be >= 0 (got %d)", p.GetCacheTtlSeconds())
	}
}

func (v *validator) access(a *fsmpb.Access) {
	for i, o := range a.GetOwners() {
		path := fmt.Sprintf("access.owners[%d]", i)
		switch {
		case o == nil:
			v.add(path, "must not be null")
		case !slices.Contains(ownerKinds, o.GetKind()):
			v.add(path, "must have exactly one of %s (got kind %q)", strings.Join(ownerKinds, ", "), o.GetKind())
		case o.GetName() == "":
			v.add(JoinPath(path, o.GetKind()), "must not be empty")
		}
	}
	for i, c := range a.GetConsumers() {
		path := fmt.Sprintf("access.consumers[%d]", i)
		if c == nil {
			v.add(path, "must not be null")
			continue
		}
		if c.GetService() == "" {
			v.add(path+".service", "must name a service")
		}
		v.oneOf(path+".access", c.GetAccess(), accessModes, true)
	}
}

func (v *validator) backendConfig(raw []byte, backend string) {
	fields, err := ConfigMap(raw)
	if err != nil {
		v.add("backend_config", "must be a mapping: %v", err)
		return
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 1 {
		v.add("backend_config", "must have at most one key, the backend name (got %s)", strings.Join(keys, ", "))
	}
	for _, k := range keys {
		path := JoinPath("backend_config", k)
		if backend != "" && k != backend {
			v.add(path, "backend_config has %q but backend is %q", k, backend)
		}
		if _, ok := fields[k].(map[string]any); !ok {
			v.add(path, "must be a mapping of settings")
		}
	}
}

func (v *validator) placement(p *fsmpb.Placement) {
	if p == nil {
		return
	}
	v.oneOf("placement.isolation", p.GetIsolation(), isolations, false)
	keys := make([]string, 0, len(p.GetLabels()))
	for k := range p.GetLabels() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" {
			v.add("placement.labels", "label keys must not be empty")
			continue
		}
		if p.GetLabels()[k] == "" {
			v.add(JoinPath("placement.labels", k), "must not be empty")
		}
	}
}

// ValidateShardSpec returns every problem with a shard's registration.
func ValidateShardSpec(s *fsmpb.ShardSpec) []FieldError {
	v := &validator{}
	if s == nil {
		v.add("", "shard is empty")
		return v.errs
	}
	v.dnsName("id", s.GetId())
	if len(s.GetEndpoints()) == 0 {
		v.add("endpoints", "at least one host:port is required")
	}
	for i, e := range s.GetEndpoints() {
		if !validHostPort(e) {
			v.add(fmt.Sprintf("endpoints[%d]", i), "must be host:port (got %q)", e)
		}
	}
	if len(s.GetBackends()) == 0 {
		v.add("backends", "at least one backend is required")
	}
	for i, b := range s.GetBackends() {
		if !backendRE.MatchString(b) {
			v.add(fmt.Sprintf("backends[%d]", i), "must be a backend name (got %q)", b)
		}
	}
	if c := s.GetCapacity(); c != nil {
		if c.ReadRps < 0 || c.WriteRps < 0 || c.DataGb < 0 || math.IsNaN(c.DataGb) || math.IsInf(c.DataGb, 0) {
			v.add("capacity", "must be finite and not negative")
		}
	}
	keys := make([]string, 0, len(s.GetLabels()))
	for k := range s.GetLabels() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || s.Labels[k] == "" {
			v.add(JoinPath("labels", k), "label keys and values must not be empty")
		}
	}
	return v.errs
}

// CheckShardSpec is ValidateShardSpec as an error (nil when valid).
func CheckShardSpec(s *fsmpb.ShardSpec) error {
	if errs := ValidateShardSpec(s); len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

// validHostPort: "host:port" with a non-empty host and a port 1..65535.
func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return false
	}
	port := 0
	for _, r := range s[i+1:] {
		if r < '0' || r > '9' {
			return false
		}
		port = port*10 + int(r-'0')
		if port > 65535 {
			return false
		}
	}
	return port > 0
}
