package nsfile

import (
	"fmt"
	"math"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/fsm"
)

const (
	// maxConfigNodes bounds the values read from backend_config, so that
	// aliases cannot expand a small file into a huge one.
	maxConfigNodes = 10000
	// maxConfigDepth bounds nesting (and alias cycles) in backend_config.
	maxConfigDepth = 32
)

// backendConfig reads backend_config: a mapping of free-form values. Which
// keys are allowed is fsm.ValidateSpec's business (the backend name).
func (p *docParser) backendConfig(path string, n *yaml.Node) []byte {
	if isNull(resolve(n)) {
		return nil
	}
	m, ok := p.object(path, n, 0)
	if !ok {
		return nil
	}
	b, err := fsm.ConfigJSON(m)
	if err != nil {
		p.fail(path, n, "cannot be stored: %v", err)
		return nil
	}
	return b
}

func (p *docParser) object(path string, n *yaml.Node, depth int) (map[string]any, bool) {
	m := map[string]any{}
	ok := p.mapping(path, n, nil, func(key, path string, v *yaml.Node) {
		if val, ok := p.value(path, v, depth+1); ok {
			m[key] = val
		}
	})
	return m, ok
}

// value converts a free-form node to a JSON-encodable value.
// Integers stay integers (stored as numbers), timestamps and other tagged
// scalars stay the strings they were written as.
func (p *docParser) value(path string, n *yaml.Node, depth int) (any, bool) {
	if p.exhausted {
		return nil, false
	}
	p.budget--
	if p.budget < 0 || depth > maxConfigDepth {
		p.exhausted = true
		p.fail(path, n, "is too large or too deeply nested")
		return nil, false
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			p.fail(path, n, "is an unknown alias")
			return nil, false
		}
		return p.value(path, n.Alias, depth+1)
	}
	switch n.Kind {
	case yaml.MappingNode:
		return p.object(path, n, depth)
	case yaml.SequenceNode:
		list := make([]any, 0, len(n.Content))
		for i, item := range n.Content {
			ip := fmt.Sprintf("%s[%d]", path, i)
			p.mark(ip, item)
			v, ok := p.value(ip, item, depth+1)
			if !ok {
				return nil, false
			}
			list = append(list, v)
		}
		return list, true
	case yaml.ScalarNode:
		return p.scalar(path, n)
	}
	p.fail(path, n, "is not a YAML value")
	return nil, false
}

func (p *docParser) scalar(path string, n *yaml.Node) (any, bool) {
	switch n.ShortTag() {
	case tagNull:
		return nil, true
	case tagBool:
		var b bool
		if err := n.Decode(&b); err == nil {
			return b, true
		}
	case tagInt:
		var i int64
		if err := n.Decode(&i); err == nil {
			return i, true
		}
		fallthrough
	case tagFloat:
		var f float64
		if err := n.Decode(&f); err == nil {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				p.fail(path, n, "must be a finite number")
				return nil, false
			}
			return f, true
		}
	default:
		if isRedactedPlaceholder(n.Value) {
			// Output of -o yaml or -o json applied as is: never store the mask.
			p.fail(path, n, "is a redacted secret as the CLI prints it (%q): write the secret itself", n.Value)
			return nil, false
		}
		return n.Value, true
	}
	p.fail(path, n, "cannot be read as %s", n.ShortTag())
	return nil, false
}
