package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/internal/testcluster"
)

// buildCtl builds prismctl into a temporary directory (with the race
// detector when this test binary has it).
func buildCtl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "prismctl")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// ctl runs the built prismctl with args (and stdin, when not empty).
type ctl struct {
	t         *testing.T
	bin       string
	endpoints string
}

type result struct {
	stdout, stderr string
	code           int
}

func (c ctl) run(stdin string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(c.bin, append([]string{"--endpoints", c.endpoints, "--timeout", "20s"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatal(err)
	}
	return r
}

func (c ctl) ok(args ...string) string {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != 0 {
		c.t.Fatalf("prismctl %v: exit %d: %s", args, r.code, r.stderr)
	}
	return r.stdout
}

// fails runs prismctl expecting exit code want and a one-line error.
func (c ctl) fails(want int, args ...string) result {
	c.t.Helper()
	r := c.run("", args...)
	if r.code != want {
		c.t.Fatalf("prismctl %v: exit %d, want %d: %s", args, r.code, want, r.stderr)
	}
	if n := strings.Count(strings.TrimSpace(r.stderr), "\n"); n != 0 {
		c.t.Errorf("prismctl %v: error is %d lines, want one:\n%s", args, n+1, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func nsDoc(name string) string {
	return "namespace: " + name + "\nabstraction: keyvalue\nbackend: postgres\naccess:\n  owners:\n    - team: t1\n"
}

// jsonErr decodes an -o json error from stderr.
func jsonErr(t *testing.T, stderr string) (code, message string, details []map[string]any) {
	t.Helper()
	var e struct {
		Error struct {
			Code    string           `json:"code"`
			Message string           `json:"message"`
			Details []map[string]any `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(stderr), &e); err != nil {
		t.Fatalf("stderr is not a JSON error: %v\n%s", err, stderr)
	}
	if e.Error.Details == nil {
		t.Errorf("details is not a list: %s", stderr)
	}
	return e.Error.Code, e.Error.Message, e.Error.Details
}

func TestCLIAgainstCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prismctl and starts a cluster")
	}
	bin := buildCtl(t)
	c := testcluster.Start(t, 1)
	x := ctl{t: t, bin: bin, endpoints: c.Endpoint(0)}

	t.Run("repeated -f applies every file", func(t *testing.T) {
		dir := t.TempDir()
		a, b := writeFile(t, dir, "a.yaml", nsDoc("rep-a")), writeFile(t, dir, "b.yaml", nsDoc("rep-b"))
		out := x.ok("namespace", "apply", "-f", a, "-f", b)
		if !strings.Contains(out, "namespace/rep-a created") || !strings.Contains(out, "namespace/rep-b created") {
			t.Fatalf("apply output:\n%s", out)
		}
		x.ok("namespace", "get", "rep-a")
		x.ok("namespace", "get", "rep-b")
	})

	t.Run("-f DIR applies its yaml files in name order", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "20-second.yml", nsDoc("dir-b"))
		writeFile(t, dir, "10-first.yaml", nsDoc("dir-a")+"---\n"+nsDoc("dir-c"))
		writeFile(t, dir, "README.md", "not a namespace")
		out := x.ok("namespace", "apply", "-f", dir)
		ia, ic, ib := strings.Index(out, "dir-a"), strings.Index(out, "dir-c"), strings.Index(out, "dir-b")
		if ia < 0 || ib < 0 || ic < 0 || !(ia < ic && ic < ib) {
			t.Fatalf("want dir-a, dir-c, dir-b in that order:\n%s", out)
		}
		x.fails(3, "namespace", "apply", "-f", t.TempDir())
		// The same file through its directory and by name is read once.
		if out := x.ok("namespace", "apply", "-f", dir, "-f", filepath.Join(dir, "20-second.yml")); strings.Count(out, "dir-b") != 1 {
			t.Errorf("a file named twice:\n%s", out)
		}
	})

	t.Run("one invalid file applies nothing and every problem is listed", func(t *testing.T) {
		before := x.ok("namespace", "list", "-o", "json")
		dir := t.TempDir()
		good := writeFile(t, dir, "good.yaml", nsDoc("never-a"))
		bad := writeFile(t, dir, "bad.yaml", "namespace: Bad!\nabstraction: spreadsheet\nbackend: postgres\nbogus: 1\n")
		worse := writeFile(t, dir, "worse.yaml", nsDoc("never-b")+"capacity:\n  estimated_read_rps: lots\n")
		r := x.fails(3, "namespace", "apply", "-f", good, "-f", bad, "-f", worse, "-f", filepath.Join(dir, "missing.yaml"))
		for _, want := range []string{
			bad + ": namespace (line 1)", bad + ": abstraction (line 2)", bad + ": bogus (line 4): unknown field",
			worse + ": capacity.estimated_read_rps (line 8): must be a number", "missing.yaml: no such file or directory",
		} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("error lacks %q:\n%s", want, r.stderr)
			}
		}
		// A problem the cluster finds (a revision precondition) stops the
		// whole set too, with its file named.
		r = x.fails(5, "namespace", "apply", "-f", good, "--expect-revision", "999")
		if !strings.Contains(r.stderr, good+`: namespace "never-a" does not exist`) {
			t.Errorf("precondition error: %s", r.stderr)
		}
		r = x.fails(3, "-o", "json", "namespace", "apply", "-f", good, "-f", bad)
		code, _, details := jsonErr(t, r.stderr)
		if code != "invalid_input" || len(details) != 3 || details[0]["file"] != bad || details[0]["type"] != "field_violation" || details[0]["line"] != 1.0 {
			t.Errorf("json error: %s", r.stderr)
		}
		if after := x.ok("namespace", "list", "-o", "json"); after != before {
			t.Fatalf("a rejected set changed the cluster:\n%s\n%s", before, after)
		}
	})

	t.Run("errors in the user's words, exit codes by class", func(t *testing.T) {
		r := x.fails(4, "namespace", "get", "nope")
		if strings.TrimSpace(r.stderr) != `Error: namespace "nope" not found` {
			t.Errorf("not found: %q", r.stderr)
		}
		r = x.fails(4, "-o", "json", "namespace", "describe", "nope")
		if code, msg, _ := jsonErr(t, r.stderr); code != "not_found" || msg != `namespace "nope" not found` {
			t.Errorf("json not found: %s", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout on error: %q", r.stdout)
		}
		r = x.fails(4, "shard", "get", "pg-9")
		if strings.TrimSpace(r.stderr) != `Error: shard "pg-9" not found` {
			t.Errorf("shard not found: %q", r.stderr)
		}
		dir := t.TempDir()
		f := writeFile(t, dir, "ns.yaml", nsDoc("conflicted"))
		x.ok("namespace", "apply", "-f", f)
		r = x.fails(5, "namespace", "apply", "-f", f, "--expect-revision", "999")
		if !strings.Contains(r.stderr, `namespace "conflicted" has changed: current revision`) {
			t.Errorf("revision mismatch: %s", r.stderr)
		}
		r = x.fails(5, "-o", "json", "namespace", "delete", "conflicted", "--expect-revision", "999")
		if code, _, details := jsonErr(t, r.stderr); code != "conflict" || len(details) != 1 || details[0]["reason"] != "REVISION_MISMATCH" {
			t.Errorf("json conflict: %s", r.stderr)
		}
		r = x.fails(3, "shard", "register", "--id", "Bad!", "--endpoint", "nope", "--backends", "postgres")
		if !strings.Contains(r.stderr, "id:") || !strings.Contains(r.stderr, "endpoints[0]:") {
			t.Errorf("invalid shard: %s", r.stderr)
		}
		x.fails(2, "namespace", "get")
		if r := x.fails(2, "namespace", "gte"); !strings.Contains(r.stderr, `unknown command "gte" for "prismctl namespace"; did you mean get?`) {
			t.Errorf("unknown subcommand: %s", r.stderr)
		}
		x.fails(2, "frobnicate")
		x.fails(2, "--bogus-flag", "namespace", "list")
		x.fails(2, "-o", "xml", "namespace", "list")
		x.fails(2, "namespace", "apply")
		help := x.ok("--help")
		if !strings.Contains(help, "Exit codes:") || !strings.Contains(help, "4  not_found") {
			t.Errorf("--help lacks the exit codes:\n%s", help)
		}
	})

	t.Run("what -o yaml and -o json print applies unchanged", func(t *testing.T) {
		x.ok("namespace", "apply", "-f", "../../examples/user-profiles.yaml", "-f", "../../examples/colocated.yaml")
		y := x.ok("namespace", "describe", "user-profiles", "-o", "yaml")
		if !strings.Contains(y, "pool_size: 20\n") {
			t.Errorf("describe -o yaml: numbers are not numbers:\n%s", y)
		}
		rev := func() string {
			var v struct {
				Revision json.Number `json:"revision"`
			}
			if err := json.Unmarshal([]byte(x.ok("namespace", "list", "-o", "json")), &v); err != nil {
				t.Fatal(err)
			}
			return v.Revision.String()
		}
		before := rev()
		f := writeFile(t, t.TempDir(), "described.yaml", y)
		if out := x.ok("namespace", "apply", "-f", f); !strings.Contains(out, "namespace/user-profiles unchanged") {
			t.Errorf("describe -o yaml | apply -f: %s", out)
		}
		for _, args := range [][]string{
			{"namespace", "get", "user-settings", "-o", "json"},
			{"namespace", "list", "-o", "yaml"},
			{"namespace", "apply", "-f", "../../examples/colocated.yaml", "-o", "yaml"},
		} {
			out := x.ok(args...)
			r := x.run(out, "namespace", "apply", "-f", "-")
			if r.code != 0 || strings.Contains(r.stdout, "created") || strings.Contains(r.stdout, "configured") || !strings.Contains(r.stdout, "unchanged") {
				t.Errorf("%v | apply -f -: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
			}
		}
		if after := rev(); after != before {
			t.Errorf("round trips changed the cluster: revision %s → %s", before, after)
		}
	})
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestCLIUnreachable(t *testing.T) {
	if testing.Short() {
		t.Skip("builds prismctl")
	}
	a, b := closedPort(t), closedPort(t)
	x := ctl{t: t, bin: buildCtl(t), endpoints: a}
	start := time.Now()
	r := x.fails(6, "namespace", "get", "user-profiles")
	if want := "Error: no node reachable (tried " + a + ": connection refused)"; strings.TrimSpace(r.stderr) != want {
		t.Errorf("got %q, want %q", r.stderr, want)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("refused everywhere took %v (the timeout is 20s): it should fail at once", d)
	}
	x.endpoints = a + "," + b
	r = x.fails(6, "-o", "json", "namespace", "apply", "-f", "../../examples/user-profiles.yaml")
	code, msg, details := jsonErr(t, r.stderr)
	if code != "unavailable" || !strings.Contains(msg, b+": connection refused") || len(details) != 2 ||
		details[0]["type"] != "endpoint" || details[0]["endpoint"] != a || details[0]["error"] != "connection refused" {
		t.Errorf("json: %s", r.stderr)
	}
	if r := x.fails(3, "snapshot", "inspect", filepath.Join(t.TempDir(), "none.snap")); !strings.Contains(r.stderr, "no such file or directory") {
		t.Errorf("missing snapshot file: %s", r.stderr)
	}
	x.endpoints = "no-port"
	if r := x.fails(6, "cluster", "status"); !strings.Contains(r.stderr, "no-port: not host:port") {
		t.Errorf("bad endpoint: %s", r.stderr)
	}
}
