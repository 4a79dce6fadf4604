// Package shards runs the prism-shard agents of a Jepsen run and reads
// their views. The agents run in the client namespace (the runner's own),
// where they reach every node at 10.77.0.I and serve GET /assignments on
// 127.0.0.1 of that namespace: nothing here is reachable from, or dials
// out of, the root namespace.
package shards

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prism/controlplane/jepsen/hosts"
)

// Capacity every agent declares: read_rps=50000, write_rps=50000, data_gb=1000.
const (
	CapReadRPS  = 50000
	CapWriteRPS = 50000
	CapDataGB   = 1000
)

// Backends the agents serve. The register and set workloads use a backend
// outside this list (workload.UnplacedBackend), so placement never touches
// their namespaces.
const Backends = "postgres,kafka"

// Agent is one prism-shard process.
type Agent struct {
	I      int    // 1-based
	ID     string // shard id, "s1"
	HTTP   string // 127.0.0.1:780I in the client namespace
	Dir    string // report dir: agent.log
	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	killed bool // killed on purpose and not restarted (the final liveness check)
}

// Agents is the set of shard agents.
type Agents struct {
	Bin          string   // prism-shard binary
	ControlPlane []string // node gRPC addresses
	List         []*Agent
	Log          func(format string, args ...any)
	// ExtraArgs, when set, adds flags to agent id's command line (with
	// --secure: its shard certificate).
	ExtraArgs func(id string) []string
	http      *http.Client
}

// New describes n agents with their directories under dir.
func New(n int, bin, dir string, controlPlane []string, logf func(string, ...any)) *Agents {
	a := &Agents{Bin: bin, ControlPlane: controlPlane, Log: logf, http: &http.Client{Timeout: 2 * time.Second}}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("s%d", i)
		a.List = append(a.List, &Agent{I: i, ID: id, HTTP: fmt.Sprintf("127.0.0.1:%d", 7800+i), Dir: filepath.Join(dir, id)})
	}
	return a
}

// Start starts agent x (also a restart).
func (a *Agents) Start(x *Agent) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.cmd != nil {
		return fmt.Errorf("%s already running", x.ID)
	}
	if err := os.MkdirAll(x.Dir, 0o755); err != nil {
		return err
	}
	args := []string{
		"--id", x.ID,
		"--control-plane", strings.Join(a.ControlPlane, ","),
		"--endpoint", fmt.Sprintf("10.77.0.100:%d", 8900+x.I), // informational: nothing serves it
		"--backends", Backends,
		"--capacity", fmt.Sprintf("read_rps=%d,write_rps=%d,data_gb=%d", CapReadRPS, CapWriteRPS, CapDataGB),
		"--labels", fmt.Sprintf("zone=z%d", (x.I-1)%3+1),
		"--http-addr", x.HTTP,
		"--heartbeat-interval", "200ms",
		"--request-timeout", "1s",
	}
	if a.ExtraArgs != nil {
		args = append(args, a.ExtraArgs(x.ID)...)
	}
	cmd := exec.Command(a.Bin, args...)
	done, err := hosts.StartLogged(cmd, filepath.Join(x.Dir, "agent.log"), x.ID)
	if err != nil {
		return err
	}
	x.cmd, x.done, x.killed = cmd, done, false
	return nil
}

// Kill sends SIGKILL to agent x and waits until it is gone.
func (a *Agents) Kill(x *Agent) error {
	x.mu.Lock()
	cmd, done := x.cmd, x.done
	x.cmd = nil
	x.mu.Unlock()
	return hosts.KillWait(cmd, done, "agent "+x.ID)
}

// KillForGood kills agent x and marks it as meant to stay dead.
func (a *Agents) KillForGood(x *Agent) error {
	err := a.Kill(x)
	x.mu.Lock()
	x.killed = true
	x.mu.Unlock()
	return err
}

// Running reports whether agent x is started; KilledForGood whether it was
// killed by KillForGood and not restarted since.
func (x *Agent) Running() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cmd != nil
}

func (x *Agent) KilledForGood() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.killed
}

// ReviveAll restarts every agent that is down.
func (a *Agents) ReviveAll() error {
	var errs []string
	for _, x := range a.List {
		if !x.Running() {
			if err := a.Start(x); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if errs != nil {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// StopAll kills every agent.
func (a *Agents) StopAll() {
	for _, x := range a.List {
		_ = a.Kill(x)
	}
}

// AssignedNS is one namespace of an agent's view.
type AssignedNS struct {
	Name     string `json:"name"`
	Revision int64  `json:"revision"`
	ShardID  string `json:"shard_id"`
	Status   string `json:"status"`
}

// View is GET /assignments.
type View struct {
	ShardID    string       `json:"shard_id"`
	Revision   int64        `json:"revision"`
	State      string       `json:"state"`
	Connected  bool         `json:"connected"`
	Namespaces []AssignedNS `json:"namespaces"`
}

// Assignments reads agent x's GET /assignments.
func (a *Agents) Assignments(ctx context.Context, x *Agent) (*View, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+x.HTTP+"/assignments", nil)
	if err != nil {
		return nil, err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /assignments of %s: %s", x.ID, resp.Status)
	}
	var v View
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("GET /assignments of %s: %w", x.ID, err)
	}
	return &v, nil
}
