package nsfile

import (
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// The keys of the namespace file, per section. Besides ADR-006's form the
// parser reads the View's (what `-o yaml` and `-o json` print): name for
// namespace, owners as {kind, name}, consumers as {service, access}, and
// the fields the cluster sets (readOnlyKeys), which it ignores.
var (
	topKeys          = append([]string{"namespace", "name", "abstraction", "backend", "capacity", "policies", "access", "backend_config", "placement"}, readOnlyKeys...)
	readOnlyKeys     = []string{"status", "shard_id", "revision", "create_revision", "status_reason", "created_at", "updated_at", "deleted_at", "move", "resources"}
	capacityKeys     = []string{"estimated_read_rps", "estimated_write_rps", "estimated_data_size_gb"}
	policiesKeys     = []string{"retention_days", "consistency", "cache_enabled", "cache_ttl_seconds", "on_delete"}
	accessKeys       = []string{"owners", "consumers"}
	consumerKeys     = []string{"service"}
	consumerViewKeys = []string{"service", "access"}
	ownerViewKeys    = []string{"kind", "name"}
	placementKeys    = []string{"isolation", "labels"}
)

// consumerRE splits "user-api (read-write)" into service and access.
var consumerRE = regexp.MustCompile(`^(.*?)\s*\(([^()]*)\)$`)

// parse reads one document, then runs fsm.ValidateSpec and gives its
// errors the lines of their paths. It returns nil when root is no mapping.
// The spec is canonical (see canonical).
func (p *docParser) parse(root *yaml.Node) *fsmpb.NamespaceSpec {
	p.mark("", root)
	s := &fsmpb.NamespaceSpec{}
	nameKey := ""
	ok := p.mapping("", root, topKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "namespace", "name":
			if nameKey != "" {
				p.report(path, v.Line, "the name is already given by %s: give namespace or name, not both", nameKey)
				return
			}
			nameKey = key
			s.Name = p.str(path, v)
			if key == "name" {
				// Validation speaks of "namespace": point it here.
				p.mark("namespace", v)
			}
		case "abstraction":
			s.Abstraction = p.str(path, v)
		case "backend":
			s.Backend = p.str(path, v)
		case "capacity":
			s.Capacity = p.capacity(path, v)
		case "policies":
			s.Policies = p.policies(path, v)
		case "access":
			s.Access = p.access(path, v)
		case "backend_config":
			s.BackendConfigJson = p.backendConfig(path, v)
		case "placement":
			s.Placement = p.placement(path, v)
		case "status":
			// A tombstone (namespace list --all) applied would create the
			// namespace again: the opposite of what it says.
			if v := resolve(v); v.Kind == yaml.ScalarNode && v.Value == StatusString(fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED) {
				p.report(path, v.Line, "the namespace is deleted (this is its tombstone): applying it would create it again; leave this document out")
			}
		}
	})
	if !ok {
		return nil
	}
	for _, fe := range fsm.ValidateSpec(s) {
		if p.suppressed(fe.Path) {
			continue
		}
		fe.Line = p.lineOf(fe.Path)
		p.errs = append(p.errs, fe)
	}
	return canonical(s)
}

// canonical gives every meaning one spec, so that files which mean the same
// (a section left out or written with its defaults; a View printed by
// `-o yaml` and the file it came from) store the same spec, and applying
// either again is unchanged: a section holding only defaults is nil, and
// cache_enabled false and on_delete delete are unset (their defaults).
func canonical(s *fsmpb.NamespaceSpec) *fsmpb.NamespaceSpec {
	if c := s.Capacity; c != nil && c.EstimatedReadRps == 0 && c.EstimatedWriteRps == 0 && c.EstimatedDataSizeGb == 0 {
		s.Capacity = nil
	}
	if p := s.Policies; p != nil {
		if p.CacheEnabled != nil && !*p.CacheEnabled {
			p.CacheEnabled = nil
		}
		if p.OnDelete == "delete" {
			p.OnDelete = "" // the default
		}
		if p.RetentionDays == nil && p.Consistency == "" && p.CacheEnabled == nil && p.CacheTtlSeconds == nil && p.OnDelete == "" {
			s.Policies = nil
		}
	}
	if a := s.Access; a != nil && len(a.Owners) == 0 && len(a.Consumers) == 0 {
		s.Access = nil
	}
	if pl := s.Placement; pl != nil {
		if len(pl.Labels) == 0 {
			pl.Labels = nil
		}
		if pl.Isolation == "" && pl.Labels == nil {
			s.Placement = nil
		}
	}
	return s
}

// serviceHasMode says whether n's service is ADR-006's "NAME (MODE)" form.
func serviceHasMode(n *yaml.Node) bool {
	n = resolve(n)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k, v := resolve(n.Content[i]), resolve(n.Content[i+1]); k.Value == "service" && v.Kind == yaml.ScalarNode {
			return consumerRE.MatchString(v.Value)
		}
	}
	return false
}

// hasKey says whether n is a mapping with the key.
func hasKey(n *yaml.Node, key string) bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return true
		}
	}
	return false
}

func (p *docParser) capacity(path string, n *yaml.Node) *fsmpb.Capacity {
	if isNull(resolve(n)) {
		return nil
	}
	c := &fsmpb.Capacity{}
	p.mapping(path, n, capacityKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "estimated_read_rps":
			c.EstimatedReadRps, _ = p.integer(path, v)
		case "estimated_write_rps":
			c.EstimatedWriteRps, _ = p.integer(path, v)
		case "estimated_data_size_gb":
			c.EstimatedDataSizeGb, _ = p.number(path, v)
		}
	})
	return c
}

func (p *docParser) policies(path string, n *yaml.Node) *fsmpb.Policies {
	if isNull(resolve(n)) {
		return nil
	}
	pol := &fsmpb.Policies{}
	p.mapping(path, n, policiesKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "retention_days":
			if d, set := p.integer(path, v); set {
				pol.RetentionDays = &d
			}
		case "consistency":
			pol.Consistency = p.str(path, v)
		case "cache_enabled":
			if b, set := p.boolean(path, v); set {
				pol.CacheEnabled = &b
			}
		case "cache_ttl_seconds":
			if t, set := p.integer(path, v); set {
				pol.CacheTtlSeconds = &t
			}
		case "on_delete":
			pol.OnDelete = p.str(path, v)
		}
	})
	return pol
}

func (p *docParser) access(path string, n *yaml.Node) *fsmpb.Access {
	if isNull(resolve(n)) {
		return nil
	}
	a := &fsmpb.Access{}
	p.mapping(path, n, accessKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "owners":
			p.sequence(path, v, func(_ int, path string, item *yaml.Node) {
				a.Owners = append(a.Owners, p.owner(path, item))
			})
		case "consumers":
			p.sequence(path, v, func(_ int, path string, item *yaml.Node) {
				a.Consumers = append(a.Consumers, p.consumer(path, item))
			})
		}
	})
	return a
}

// owner reads {team|user|service: NAME}, or the View's {kind, name}. It
// always returns an Owner so list indexes stay aligned with the file.
func (p *docParser) owner(path string, n *yaml.Node) *fsmpb.Owner {
	o := &fsmpb.Owner{}
	if hasKey(n, "kind") {
		p.mapping(path, n, ownerViewKeys, func(key, path string, v *yaml.Node) {
			if key == "kind" {
				o.Kind = p.str(path, v)
			} else {
				o.Name = p.str(path, v)
			}
		})
		return o
	}
	kinds := 0
	ok := p.mapping(path, n, fsm.OwnerKinds, func(key, path string, v *yaml.Node) {
		kinds++
		o.Kind, o.Name = key, p.str(path, v)
	})
	if ok && kinds != 1 {
		p.fail(path, resolve(n), "must have exactly one of %s", strings.Join(fsm.OwnerKinds, ", "))
	}
	return o
}

// consumer reads {service: "NAME (read-only|read-write)"}, or the View's
// {service: NAME, access: read-only|read-write}.
func (p *docParser) consumer(path string, n *yaml.Node) *fsmpb.Consumer {
	c := &fsmpb.Consumer{}
	if hasKey(n, "access") && !serviceHasMode(n) {
		p.mapping(path, n, consumerViewKeys, func(key, path string, v *yaml.Node) {
			if key == "service" {
				c.Service = p.str(path, v)
			} else {
				c.Access = p.str(path, v)
			}
		})
		return c
	}
	seen := false
	ok := p.mapping(path, n, consumerKeys, func(_, spath string, v *yaml.Node) {
		seen = true
		s := p.str(spath, v)
		if p.suppressed(spath) {
			p.bad = append(p.bad, path)
			return
		}
		p.mark(path+".access", resolve(v))
		m := consumerRE.FindStringSubmatch(s)
		if m == nil {
			p.fail(spath, resolve(v), `must be "SERVICE (%s)" (got %q)`, strings.Join(fsm.AccessModes, "|"), s)
			p.bad = append(p.bad, path)
			return
		}
		c.Service, c.Access = strings.TrimSpace(m[1]), strings.TrimSpace(m[2])
	})
	if ok && !seen {
		p.fail(path, resolve(n), `must have service: "SERVICE (%s)"`, strings.Join(fsm.AccessModes, "|"))
	}
	return c
}

func (p *docParser) placement(path string, n *yaml.Node) *fsmpb.Placement {
	if isNull(resolve(n)) {
		return nil
	}
	pl := &fsmpb.Placement{}
	p.mapping(path, n, placementKeys, func(key, path string, v *yaml.Node) {
		switch key {
		case "isolation":
			pl.Isolation = p.str(path, v)
		case "labels":
			if isNull(resolve(v)) {
				return
			}
			pl.Labels = map[string]string{}
			p.mapping(path, v, nil, func(label, path string, v *yaml.Node) {
				pl.Labels[label] = p.str(path, v)
			})
		}
	})
	return pl
}
