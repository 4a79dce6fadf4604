package nsfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Parse reads a namespace file: one or more YAML documents separated by
// "---", each one namespace. Empty documents are skipped; a file without any
// namespace is an error. A document may also be a list of namespaces, as
// the CLI prints several: a sequence of them, or {namespaces: [...]} (the
// shape of `namespace list`); each item then counts as one document. JSON
// is YAML too, so what `-o json` prints is read the same way.
//
// Every problem of every document (syntax, unknown or duplicate keys, wrong
// types, and the rules of fsm.ValidateSpec) is returned together as one
// *fsm.ValidationError, ordered by line then path. When the file holds more
// than one namespace, paths start with "[N]." where N is the 0-based index of
// the namespace among the non-empty documents (so it indexes the result).
// Specs are returned only when there is no problem at all.
func Parse(data []byte) ([]*fsmpb.NamespaceSpec, error) {
	docs, err := parseDocs(data)
	if err != nil {
		return nil, err
	}
	specs := make([]*fsmpb.NamespaceSpec, len(docs))
	for i, d := range docs {
		specs[i] = d.spec
	}
	return specs, nil
}

// parsedDoc is one namespace of a file, with where its name is written.
type parsedDoc struct {
	spec     *fsmpb.NamespaceSpec
	namePath string // "namespace", or "[N].namespace" in a file of several
	nameLine int
}

func parseDocs(data []byte) ([]parsedDoc, error) {
	roots, syntax := splitDocuments(data)
	roots, listErrs := expandLists(roots)
	if len(roots) == 0 && syntax == nil && listErrs == nil {
		return nil, &fsm.ValidationError{Fields: []fsm.FieldError{{Path: "", Message: "no namespace documents in the file"}}}
	}
	multi := len(roots) > 1 || (len(roots) == 1 && syntax != nil)
	path := func(doc int, p string) string {
		if multi {
			return docPath(doc, p)
		}
		return p
	}
	var errs []fsm.FieldError
	add := func(doc int, fe fsm.FieldError) {
		fe.Path = path(doc, fe.Path)
		errs = append(errs, fe)
	}
	docs := make([]parsedDoc, len(roots))
	firstDoc := map[string]int{}
	for i, root := range roots {
		p := newDocParser()
		docs[i] = parsedDoc{spec: p.parse(root), namePath: path(i, "namespace"), nameLine: p.lineOf("namespace")}
		for _, fe := range p.errs {
			add(i, fe)
		}
		if name := docs[i].spec.GetName(); name != "" {
			if j, dup := firstDoc[name]; dup {
				add(i, fsm.FieldError{Path: "namespace", Line: p.lineOf("namespace"),
					Message: fmt.Sprintf("namespace %q is also defined in document [%d]", name, j)})
			} else {
				firstDoc[name] = i
			}
		}
	}
	if syntax != nil {
		add(len(roots), *syntax)
	}
	errs = append(errs, listErrs...)
	if len(errs) > 0 {
		sortFieldErrors(errs)
		return nil, &fsm.ValidationError{Fields: errs}
	}
	return docs, nil
}

// expandLists replaces a document that is a list of namespaces by its
// items: a sequence, or a mapping of only namespaces (a sequence) and
// revision. Anything else stays one document. A list may hold no alias:
// every item is parsed on its own, so items aliasing one anchor would
// multiply its size (the CLI never prints aliases; one document per
// namespace may use them).
func expandLists(roots []*yaml.Node) ([]*yaml.Node, []fsm.FieldError) {
	var out []*yaml.Node
	var errs []fsm.FieldError
	for _, root := range roots {
		var items []*yaml.Node
		switch {
		case root.Kind == yaml.SequenceNode:
			items = root.Content
		case root.Kind == yaml.MappingNode && isListView(root):
			for i := 0; i+1 < len(root.Content); i += 2 {
				if root.Content[i].Value == "namespaces" {
					items = root.Content[i+1].Content
				}
			}
		default:
			out = append(out, root)
			continue
		}
		if a := firstAlias(root); a != nil {
			errs = append(errs, fsm.FieldError{Line: a.Line, Message: fmt.Sprintf(
				"aliases (*%s) are not allowed in a list of namespaces: write the values out, or give each namespace its own document (---)", a.Value)})
			continue
		}
		out = append(out, items...)
	}
	return out, errs
}

// firstAlias finds an alias node in n's tree (aliases are not followed).
func firstAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		return n
	}
	for _, c := range n.Content {
		if a := firstAlias(c); a != nil {
			return a
		}
	}
	return nil
}

func isListView(n *yaml.Node) bool {
	found := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k, v := n.Content[i], n.Content[i+1]; {
		case k.Value == "namespaces" && v.Kind == yaml.SequenceNode:
			found = true
		case k.Value == "revision":
		default:
			return false
		}
	}
	return found
}

func docPath(doc int, path string) string {
	if path == "" {
		return fmt.Sprintf("[%d]", doc)
	}
	return fmt.Sprintf("[%d].%s", doc, path)
}

func sortFieldErrors(errs []fsm.FieldError) {
	sort.SliceStable(errs, func(i, j int) bool {
		a, b := errs[i], errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Message < b.Message
	})
}

// splitDocuments decodes the YAML stream into the root nodes of its
// non-empty documents. A syntax error ends the stream; the documents before
// it are still returned so their problems can be reported too.
func splitDocuments(data []byte) ([]*yaml.Node, *fsm.FieldError) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var roots []*yaml.Node
	for {
		var doc yaml.Node
		err := decodeNode(dec, &doc)
		if errors.Is(err, io.EOF) {
			return roots, nil
		}
		if err != nil {
			return roots, syntaxError(data, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.ShortTag() == tagNull {
			continue
		}
		roots = append(roots, root)
	}
}

// decodeNode never lets a panic of the YAML library escape Parse.
func decodeNode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: internal error: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLineRE = regexp.MustCompile(`^yaml: (?:line (\d+): )?(.*)$`)

// parserProblems are the errors of yaml.v3's parser (not its scanner). It
// reports them with a 0-based line, and reports no line at all for an error
// on the first line of either kind.
var parserProblems = map[string]bool{
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"did not find expected '-' indicator":    true,
	"did not find expected <document start>": true,
	"did not find expected <stream-start>":   true,
	"did not find expected key":              true,
	"did not find expected node content":     true,
	"found duplicate %TAG directive":         true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

func syntaxError(data []byte, err error) *fsm.FieldError {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatch(msg)
	if m == nil || strings.HasPrefix(m[2], "internal error") {
		return &fsm.FieldError{Path: "", Message: "invalid YAML: " + msg}
	}
	line := 1
	if m[1] != "" {
		n, convErr := strconv.Atoi(m[1])
		if convErr != nil {
			return &fsm.FieldError{Path: "", Message: "invalid YAML: " + msg}
		}
		line = n
		if parserProblems[m[2]] {
			line++
		}
	}
	// An error at the end of the stream may point past the last line.
	last := bytes.Count(bytes.TrimRight(data, "\n"), []byte("\n")) + 1
	return &fsm.FieldError{Path: "", Message: "invalid YAML: " + m[2], Line: min(line, last)}
}
