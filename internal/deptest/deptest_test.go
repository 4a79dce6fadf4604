package deptest

import (
	"go/parser"
	"go/token"
	"slices"
	"strings"
	"testing"
)

func TestFileProblems(t *testing.T) {
	const src = `package p

import (
	"context"
	clock "time"
)

func f(ctx context.Context) clock.Duration {
	_ = clock.Now
	go func() {}()
	c, cancel := context.WithTimeout(ctx, clock.Second)
	defer cancel()
	_ = c
	return clock.Since(clock.Time{})
}

func g(time struct{ Now int }) int { return time.Now } // not the time package
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range fileProblems(fset, f, Rules{NoGoroutines: true}) {
		got = append(got, p[strings.Index(p, " ")+1:])
	}
	want := []string{"time.Now reads the clock", "go statement", "context.WithTimeout reads the clock", "time.Since reads the clock"}
	if !slices.Equal(got, want) {
		t.Fatalf("problems %q, want %q", got, want)
	}
	if p := fileProblems(fset, f, Rules{}); len(p) != 3 {
		t.Fatalf("without NoGoroutines: %q", p)
	}
}
