// Package deptest checks a package's import boundary from its own tests: the
// packages it imports directly must be on an allow-list, nothing it depends
// on (even indirectly) may reach the network, a database, raft, a process or
// randomness, and its code may not read the clock.
//
// It asks `go list` (which go test puts on PATH) about the package in the
// test's working directory, so a test calls Check from the package it
// guards. A failing `go list` fails the test: a boundary that cannot be
// checked is not a pass.
package deptest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// PureStd are standard packages that compute on values only: no I/O, clock,
// randomness, process or network. Every rule may import them.
var PureStd = []string{
	"bufio", "bytes", "cmp", "container/heap", "container/list",
	"crypto/sha256", "encoding/binary", "encoding/hex", "encoding/json",
	"errors", "fmt", "hash", "hash/fnv", "io", "iter", "maps", "math",
	"math/bits", "regexp", "slices", "sort", "strconv", "strings", "sync",
	"sync/atomic", "unicode", "unicode/utf8",
}

// Forbidden are packages no guarded package may depend on, even indirectly.
var Forbidden = []string{
	"net", "net/http", "net/rpc", "database/sql", "os/exec", "os/signal",
	"crypto/rand", "math/rand", "math/rand/v2", "syscall/js",
	"github.com/hashicorp/raft", "github.com/hashicorp/memberlist",
	"go.etcd.io/bbolt", "google.golang.org/grpc",
	"github.com/jackc/pgx/v5", "github.com/segmentio/kafka-go",
}

// clockReads are the functions that read the clock or wait on it, by
// package. They are forbidden even where the package itself is allowed (for
// time.Duration or context cancellation).
var clockReads = map[string][]string{
	"time": {"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick",
		"NewTimer", "NewTicker"},
	"context": {"WithTimeout", "WithDeadline", "WithTimeoutCause",
		"WithDeadlineCause"},
}

// Rules is the boundary of one package.
type Rules struct {
	// Allow lists the packages, besides PureStd, that the package may
	// import directly: standard packages and module packages alike.
	Allow []string
	// NoGoroutines forbids go statements.
	NoGoroutines bool
}

type listed struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	CgoFiles   []string
	Imports    []string
	Deps       []string
}

// Check fails t for each import outside r.Allow and PureStd, each
// dependency on Forbidden, each clock read and (with r.NoGoroutines) each go
// statement in the package's non-test files.
func Check(t *testing.T, r Rules) {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Dir,GoFiles,CgoFiles,Imports,Deps", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	var p listed
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("go list output: %v", err)
	}
	if len(p.GoFiles) == 0 {
		t.Fatalf("go list found no Go files in %s", p.Dir)
	}
	allowed := append(slices.Clone(PureStd), r.Allow...)
	for _, imp := range p.Imports {
		if !slices.Contains(allowed, imp) {
			t.Errorf("%s imports %s, which is not on its allow-list", p.ImportPath, imp)
		}
	}
	for _, d := range p.Deps {
		if slices.Contains(Forbidden, d) {
			t.Errorf("%s depends on %s", p.ImportPath, d)
		}
	}
	if len(p.CgoFiles) > 0 {
		t.Errorf("%s uses cgo (%v)", p.ImportPath, p.CgoFiles)
	}
	fset := token.NewFileSet()
	for _, name := range p.GoFiles {
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		for _, problem := range fileProblems(fset, f, r) {
			t.Error(problem)
		}
	}
}

// fileProblems are the clock reads and go statements of one file.
func fileProblems(fset *token.FileSet, f *ast.File, r Rules) []string {
	var problems []string
	// local import name → import path, for the packages with clock reads.
	names := map[string]string{}
	for _, is := range f.Imports {
		path, _ := strconv.Unquote(is.Path.Value)
		if _, ok := clockReads[path]; !ok {
			continue
		}
		name := filepath.Base(path)
		if is.Name != nil {
			name = is.Name.Name
		}
		names[name] = path
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.SelectorExpr:
			id, ok := n.X.(*ast.Ident)
			if !ok {
				return true
			}
			if path, ok := names[id.Name]; ok && slices.Contains(clockReads[path], n.Sel.Name) {
				problems = append(problems, fmt.Sprintf("%s: %s.%s reads the clock", fset.Position(n.Pos()), path, n.Sel.Name))
			}
		case *ast.GoStmt:
			if r.NoGoroutines {
				problems = append(problems, fmt.Sprintf("%s: go statement", fset.Position(n.Pos())))
			}
		}
		return true
	})
	return problems
}
