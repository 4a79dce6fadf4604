package nsfile

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/fsm"
)

const (
	tagNull  = "!!null"
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagMerge = "!!merge"
)

// docParser walks one document. It records the line of every path it sees,
// so errors found later by fsm.ValidateSpec can point into the file.
type docParser struct {
	errs  []fsm.FieldError
	lines map[string]int
	// bad holds paths whose value could not be read; validation errors at or
	// under them would only repeat the problem and are dropped.
	bad []string
	// budget bounds the work on free-form values (alias bombs).
	budget    int
	exhausted bool
}

func newDocParser() *docParser {
	return &docParser{lines: map[string]int{}, budget: maxConfigNodes}
}

// report adds a problem at path.
func (p *docParser) report(path string, line int, format string, args ...any) {
	p.errs = append(p.errs, fsm.FieldError{Path: path, Message: fmt.Sprintf(format, args...), Line: line})
}

// fail reports a value that could not be read and marks its path bad.
func (p *docParser) fail(path string, n *yaml.Node, format string, args ...any) {
	p.report(path, n.Line, format, args...)
	p.bad = append(p.bad, path)
}

func (p *docParser) mark(path string, n *yaml.Node) {
	if _, ok := p.lines[path]; !ok {
		p.lines[path] = n.Line
	}
}

// lineOf is the line of path, or of its closest recorded ancestor.
func (p *docParser) lineOf(path string) int {
	for {
		if l, ok := p.lines[path]; ok {
			return l
		}
		if path == "" {
			return 0
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			i = 0
		}
		path = path[:i]
	}
}

func (p *docParser) suppressed(path string) bool {
	for _, b := range p.bad {
		if path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 8; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull
}

// mapping walks the key/value pairs of a mapping node. Keys outside known
// (when known is not nil) are errors, as are duplicate keys. It returns
// false when n is not a mapping.
func (p *docParser) mapping(path string, n *yaml.Node, known []string, fn func(key, path string, v *yaml.Node)) bool {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		p.fail(path, n, "must be a mapping")
		return false
	}
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content) && !p.exhausted; i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.report(path, k.Line, "keys must be strings")
			continue
		}
		if k.ShortTag() == tagMerge {
			p.report(path, k.Line, "merge keys (<<) are not supported")
			continue
		}
		kp := fsm.JoinPath(path, k.Value)
		if line, dup := first[k.Value]; dup {
			p.report(kp, k.Line, "duplicate key (first at line %d)", line)
			continue
		}
		first[k.Value] = k.Line
		if known != nil && !slices.Contains(known, k.Value) {
			p.report(kp, k.Line, "unknown field")
			continue
		}
		p.mark(kp, k)
		fn(k.Value, kp, v)
	}
	return true
}

// sequence walks the items of a sequence node; null is an empty sequence.
func (p *docParser) sequence(path string, n *yaml.Node, fn func(i int, path string, v *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(path, n, "must be a list")
		return
	}
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		p.mark(ip, item)
		fn(i, ip, item)
	}
}

// str reads a string; null reads as "".
func (p *docParser) str(path string, n *yaml.Node) string {
	n = resolve(n)
	if isNull(n) {
		return ""
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagStr {
		p.fail(path, n, "must be a string")
		return ""
	}
	return n.Value
}

// integer reads a whole number; set is false for null.
func (p *docParser) integer(path string, n *yaml.Node) (v int64, set bool) {
	f, ok := p.number(path, n)
	if !ok {
		return 0, false
	}
	if n = resolve(n); n.ShortTag() == tagInt {
		if err := n.Decode(&v); err == nil {
			return v, true
		}
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f):
		p.fail(path, n, "must be a whole number")
	case f < math.MinInt64 || f >= math.MaxInt64:
		p.fail(path, n, "is out of range")
	default:
		return int64(f), true
	}
	return 0, false
}

// number reads an int or float; ok is false for null or a wrong type.
func (p *docParser) number(path string, n *yaml.Node) (v float64, ok bool) {
	n = resolve(n)
	if isNull(n) {
		return 0, false
	}
	if n.Kind != yaml.ScalarNode || (n.ShortTag() != tagInt && n.ShortTag() != tagFloat) {
		p.fail(path, n, "must be a number")
		return 0, false
	}
	if err := n.Decode(&v); err != nil {
		p.fail(path, n, "must be a number")
		return 0, false
	}
	return v, true
}

// boolean reads true or false; set is false for null.
func (p *docParser) boolean(path string, n *yaml.Node) (v, set bool) {
	n = resolve(n)
	if isNull(n) {
		return false, false
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() != tagBool || n.Decode(&v) != nil {
		p.fail(path, n, "must be true or false")
		return false, false
	}
	return v, true
}
