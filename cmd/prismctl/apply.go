package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func nsApplyCmd(g *globals) *cobra.Command {
	var files []string
	var dryRun bool
	var expect int64
	c := &cobra.Command{
		Use: "apply -f FILE|DIR|- [-f ...]",
		Short: "Create or update namespaces from YAML files (multi-document allowed; -f repeatable; " +
			"a directory means its *.yaml and *.yml files in name order)",
		Long: `Create or update namespaces from YAML files. -f may be given several times;
-f DIR reads every *.yaml and *.yml file directly in DIR, in name order;
-f - reads stdin. What -o yaml and -o json print can be applied again.

Every namespace of every file is checked first, by the parser and then by the
cluster (a dry run); if any has a problem nothing is applied, and every problem
of every file is listed with its file name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return usageErr("apply needs -f FILE, -f DIR or -f - (stdin); -f may be repeated")
			}
			inputs, unreadable, err := readInputs(files)
			if err != nil {
				return err
			}
			docs, err := nsfile.ParseFiles(inputs)
			if err != nil || len(unreadable) > 0 {
				return inputError(unreadable, err)
			}
			var expected *int64
			if cmd.Flags().Changed("expect-revision") {
				if len(docs) != 1 {
					return usageErr("--expect-revision needs exactly one namespace; %s hold %d", strings.Join(files, ", "), len(docs))
				}
				expected = &expect
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				return applyDocs(ctx, g, cl, docs, expected, dryRun)
			})
		},
	}
	c.Flags().StringArrayVarP(&files, "file", "f", nil, "namespace YAML file, directory of them, or - for stdin (repeatable)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "validate against the cluster and show the result without writing")
	c.Flags().Int64Var(&expect, "expect-revision", 0, "apply only if the namespace is at this revision (0: only if it does not exist)")
	return c
}

// readProblem is an input that could not be read.
type readProblem struct{ file, why string }

// readInputs reads every -f: a file, every *.yaml and *.yml file of a
// directory (name order), or stdin for "-". Every unreadable input is
// returned as a problem; none is skipped.
func readInputs(args []string) ([]nsfile.File, []readProblem, error) {
	var files []nsfile.File
	var problems []readProblem
	fail := func(name, why string) { problems = append(problems, readProblem{name, why}) }
	// A file named twice (directly and through its directory) is read once.
	seen := map[string]bool{}
	once := func(p string) bool {
		key := filepath.Clean(p)
		if abs, err := filepath.Abs(p); err == nil {
			key = abs
		}
		if seen[key] {
			return false
		}
		seen[key] = true
		return true
	}
	stdin := false
	for _, a := range args {
		if a == "-" {
			if stdin {
				return nil, nil, usageErr("-f - (stdin) given twice")
			}
			stdin = true
			data, err := io.ReadAll(os.Stdin)
			if err != nil {
				fail("-", err.Error())
				continue
			}
			files = append(files, nsfile.File{Name: "-", Data: data})
			continue
		}
		fi, err := os.Stat(a)
		if err != nil {
			fail(a, pathErr(err))
			continue
		}
		if !fi.IsDir() {
			if !once(a) {
				continue
			}
			data, err := os.ReadFile(a)
			if err != nil {
				fail(a, pathErr(err))
				continue
			}
			files = append(files, nsfile.File{Name: a, Data: data})
			continue
		}
		entries, err := os.ReadDir(a) // sorted by name
		if err != nil {
			fail(a, pathErr(err))
			continue
		}
		n := 0
		for _, e := range entries {
			if e.IsDir() || (filepath.Ext(e.Name()) != ".yaml" && filepath.Ext(e.Name()) != ".yml") {
				continue
			}
			n++
			p := filepath.Join(a, e.Name())
			if !once(p) {
				continue
			}
			data, err := os.ReadFile(p)
			if err != nil {
				fail(p, pathErr(err))
				continue
			}
			files = append(files, nsfile.File{Name: p, Data: data})
		}
		if n == 0 {
			fail(a, "directory has no *.yaml or *.yml file")
		}
	}
	return files, problems, nil
}

// inputError lists every unreadable input and every problem of every file
// that was read (perr, from nsfile.ParseFiles), each with its file name.
func inputError(unreadable []readProblem, perr error) error {
	var fe *nsfile.FilesError
	if perr != nil && !errors.As(perr, &fe) {
		return perr
	}
	e := &cliError{class: classInvalid}
	files := map[string]bool{}
	var parts []string
	for _, p := range unreadable {
		files[p.file] = true
		parts = append(parts, p.file+": "+p.why)
		e.details = append(e.details, detail{Type: "file", File: p.file, Error: p.why})
	}
	if fe != nil {
		for _, p := range fe.Problems {
			files[p.File] = true
			parts = append(parts, p.String())
			e.details = append(e.details, detail{Type: "field_violation", File: p.File, Field: p.Path, Line: p.Line, Description: p.Message})
		}
	}
	e.msg = fmt.Sprintf("nothing applied: %d problem(s) in %d file(s): %s", len(parts), len(files), strings.Join(parts, "; "))
	return e
}

// pathErr is an os error without the path, which the message already has.
func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// applyDocs checks every namespace against the cluster (dry run) and, only
// when none has a problem, applies them in order.
func applyDocs(ctx context.Context, g *globals, cl *client.Client, docs []nsfile.Doc, expected *int64, dryRun bool) error {
	results := make([]*rpcpb.ApplyResponse, len(docs))
	var failed *cliError
	var problems []string
	for i, d := range docs {
		r, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: d.Spec, ExpectedRevision: expected, DryRun: true})
		if err != nil {
			e := explain(g.diagnose(about("namespace", d.Spec.Name, err)))
			if e.class == classUnavailable || e.class == classPermission || e.class == classError {
				return e // the others would fail the same way
			}
			if failed == nil {
				failed = &cliError{class: e.class} // the class of the first problem
			}
			problems = append(problems, fmt.Sprintf("%s: %s", d.File, e.msg))
			for _, dt := range e.details {
				dt.File = d.File
				failed.details = append(failed.details, dt)
			}
			continue
		}
		results[i] = r
	}
	if failed != nil {
		failed.msg = "nothing applied: " + strings.Join(problems, "; ")
		return failed
	}
	if !dryRun {
		for i, d := range docs {
			r, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: d.Spec, ExpectedRevision: expected})
			if err != nil {
				if i > 0 {
					_ = printApply(g, results[:i], false)
				}
				e := explain(g.diagnose(about("namespace", d.Spec.Name, err)))
				var left []string
				for _, rest := range docs[i:] {
					left = append(left, rest.Spec.Name)
				}
				e.msg = fmt.Sprintf("%s: %s (applied %d of %d namespaces; not applied: %s)", d.File, e.msg, i, len(docs), strings.Join(left, ", "))
				return e
			}
			results[i] = r
		}
	}
	return printApply(g, results, dryRun)
}
