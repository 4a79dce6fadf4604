package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Operations tests: rolling restarts, growing the cluster, foreign nodes,
// snapshots across clusters and disaster recovery, each driven through real
// prismd processes and prismctl the way an operator would.

// opsStatus is the JSON of `prismctl cluster status -o json`.
type opsStatus struct {
	ClusterID string `json:"cluster_id"`
	LeaderID  string `json:"leader_id"`
	Term      uint64 `json:"term"`
	Revision  int64  `json:"revision"`
	Nodes     []struct {
		ID       string `json:"id"`
		GRPCAddr string `json:"grpc_addr"`
		RaftAddr string `json:"raft_addr"`
		Suffrage string `json:"suffrage"`
		State    string `json:"state"`
		Healthy  bool   `json:"healthy"`
	} `json:"nodes"`
}

func (s opsStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "leader=%q term=%d servers=[", s.LeaderID, s.Term)
	for i, n := range s.Nodes {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s:%s/%s/healthy=%v", n.ID, n.Suffrage, n.State, n.Healthy)
	}
	b.WriteString("]")
	return b.String()
}

// opsMembers is the JSON of `prismctl cluster members -o json`.
type opsMembers struct {
	Members []struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		GossipAddr string `json:"gossip_addr"`
	} `json:"members"`
}

// opsList is the JSON of `prismctl namespace list -o json`.
type opsList struct {
	Namespaces []struct {
		Name   string `json:"name"`
		Status string `json:"status"`
	} `json:"namespaces"`
	Revision int64 `json:"revision"`
}

// opsCtlJSON runs prismctl with -o json and decodes its stdout into out.
func opsCtlJSON(t *testing.T, endpoints string, out any, args ...string) error {
	t.Helper()
	stdout, stderr, code := ctl(t, endpoints, append(args, "-o", "json")...)
	if code != 0 {
		return fmt.Errorf("prismctl %v: exit %d: %s", args, code, strings.TrimSpace(stderr))
	}
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		return fmt.Errorf("prismctl %v: bad JSON: %v\n%s", args, err, stdout)
	}
	return nil
}

func opsMustCtlJSON(t *testing.T, endpoints string, out any, args ...string) {
	t.Helper()
	if err := opsCtlJSON(t, endpoints, out, args...); err != nil {
		t.Fatal(err)
	}
}

// opsEventually polls f until it returns nil, failing the test after d.
func opsEventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// opsNewNode gives a node fresh loopback ports and a fresh data dir.
func opsNewNode(t *testing.T, id string) *node {
	return &node{
		id:      id,
		grpc:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		http:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		raft:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		gossip:  fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		dataDir: t.TempDir(),
	}
}

// opsStart starts prismd for nd with its addresses plus extra flags; the
// process is killed when the test ends, and its log printed if it failed.
func opsStart(t *testing.T, nd *node, extra ...string) {
	t.Helper()
	args := append([]string{"--node-id", nd.id, "--data-dir", nd.dataDir,
		"--grpc-addr", nd.grpc, "--http-addr", nd.http, "--raft-addr", nd.raft, "--gossip-addr", nd.gossip,
		"--provisioning=false"}, extra...)
	log := &bytes.Buffer{}
	cmd := exec.Command(filepath.Join(binDir, "prismd"), args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	nd.cmd, nd.log = cmd, log
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		checkNoRace(t, nd.id, log)
		if t.Failed() {
			t.Logf("--- log of %s ---\n%s", nd.id, log.String())
		}
	})
}

// autopilotRounds is nd's prism_autopilot_rounds_total: the membership
// rounds it has completed as leader.
func autopilotRounds(nd *node) (uint64, error) {
	resp, err := http.Get("http://" + nd.http + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "prism_autopilot_rounds_total "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return uint64(f), err
		}
	}
	return 0, fmt.Errorf("%s: no prism_autopilot_rounds_total in /metrics", nd.id)
}

// opsWaitRounds waits until each of leaders has completed n more membership
// rounds than now: a negative check ("no leader adds that server") waits for
// rounds of the loop that would add it, not for wall time.
func opsWaitRounds(t *testing.T, d time.Duration, n uint64, leaders ...*node) {
	t.Helper()
	start := make([]uint64, len(leaders))
	for i, nd := range leaders {
		r, err := autopilotRounds(nd)
		if err != nil {
			t.Fatal(err)
		}
		start[i] = r
	}
	opsEventually(t, d, "membership rounds", func() error {
		for i, nd := range leaders {
			r, err := autopilotRounds(nd)
			if err != nil {
				return err
			}
			if r-start[i] < n {
				return fmt.Errorf("%s ran %d of %d rounds", nd.id, r-start[i], n)
			}
		}
		return nil
	})
}

// opsWaitReady polls nd's /readyz until it answers 200.
func opsWaitReady(t *testing.T, nd *node, d time.Duration) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	opsEventually(t, d, nd.id+" /readyz", func() error {
		resp, err := hc.Get("http://" + nd.http + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// opsStop sends sig to nd and waits for the process to exit.
func opsStop(t *testing.T, nd *node, sig syscall.Signal, d time.Duration) *os.ProcessState {
	t.Helper()
	if err := nd.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", nd.id, err)
	}
	done := make(chan struct{})
	go func() { _ = nd.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		_ = nd.cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within %v of %v", nd.id, d, sig)
	}
	return nd.cmd.ProcessState
}

// opsWaitHealthy waits until the cluster reports a leader and exactly the
// given servers, all healthy.
func opsWaitHealthy(t *testing.T, endpoints string, ids []string, d time.Duration) opsStatus {
	t.Helper()
	var st opsStatus
	opsEventually(t, d, "all servers healthy", func() error {
		st = opsStatus{}
		if err := opsCtlJSON(t, endpoints, &st, "cluster", "status"); err != nil {
			return err
		}
		if st.LeaderID == "" || len(st.Nodes) != len(ids) {
			return fmt.Errorf("status %v", st)
		}
		for i, n := range st.Nodes {
			if n.ID != ids[i] || !n.Healthy {
				return fmt.Errorf("status %v", st)
			}
		}
		return nil
	})
	return st
}

// opsSuffrages is "id:suffrage ..." of every server.
func opsSuffrages(s opsStatus) string {
	var out []string
	for _, n := range s.Nodes {
		out = append(out, n.ID+":"+n.Suffrage)
	}
	return strings.Join(out, " ")
}

func opsIDs(nodes []*node) []string {
	var ids []string
	for _, nd := range nodes {
		ids = append(ids, nd.id)
	}
	sort.Strings(ids)
	return ids
}

// loadResult is what the background writer of TestRollingRestartUnderLoad saw.
type loadResult struct {
	writes   int
	acked    []string
	failures []string // "time name: error"
	// longestOutage is the longest time from the start of a failed write
	// to the end of the next acknowledged one; outageEnd is when it ended.
	longestOutage time.Duration
	outageEnd     time.Time
	// maxAckGap is the longest time between two acknowledgements.
	maxAckGap time.Duration
}

func TestRollingRestartUnderLoad(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	cl, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(), ","), AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	stop := make(chan struct{})
	done := make(chan loadResult, 1)
	go func() {
		var r loadResult
		var failStart time.Time
		lastAck := time.Now()
		for i := 0; ; i++ {
			select {
			case <-stop:
				if !failStart.IsZero() {
					if d := time.Since(failStart); d > r.longestOutage {
						r.longestOutage, r.outageEnd = d, time.Now()
					}
				}
				done <- r
				return
			default:
			}
			name := fmt.Sprintf("rr-%06d", i)
			spec := &fsmpb.NamespaceSpec{Name: name, Abstraction: "keyvalue", Backend: "postgres",
				Capacity: &fsmpb.Capacity{EstimatedReadRps: 10, EstimatedWriteRps: 1, EstimatedDataSizeGb: 1}}
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec})
			cancel()
			t1 := time.Now()
			r.writes++
			if err != nil {
				r.failures = append(r.failures, fmt.Sprintf("%s %s: %v", t1.Format("15:04:05.000"), name, err))
				if failStart.IsZero() {
					failStart = t0
				}
				continue
			}
			r.acked = append(r.acked, name)
			if g := t1.Sub(lastAck); g > r.maxAckGap {
				r.maxAckGap = g
			}
			lastAck = t1
			if !failStart.IsZero() {
				if d := t1.Sub(failStart); d > r.longestOutage {
					r.longestOutage, r.outageEnd = d, t1
				}
				failStart = time.Time{}
			}
		}
	}()
	stopped := false
	stopLoad := func() loadResult {
		if !stopped {
			stopped = true
			close(stop)
		}
		return <-done
	}
	defer func() {
		if !stopped {
			stopLoad()
		}
	}()

	// Logs of the processes replaced by restarts, printed if the test fails.
	var oldLogs []string
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range oldLogs {
				t.Log(l)
			}
		}
	})
	ids := opsIDs(c.nodes)
	time.Sleep(time.Second) // load before the first restart
	for _, nd := range c.nodes {
		var pre opsStatus
		opsMustCtlJSON(t, c.endpoints(), &pre, "cluster", "status")
		role := "follower"
		if pre.LeaderID == nd.id {
			role = "leader"
		}
		start := time.Now()
		ps := opsStop(t, nd, syscall.SIGTERM, 15*time.Second)
		stoppedIn := time.Since(start)
		if code := ps.ExitCode(); code != 0 {
			t.Errorf("%s exited with %d after SIGTERM", nd.id, code)
		}
		oldLogs = append(oldLogs, fmt.Sprintf("--- log of %s before its restart ---\n%s", nd.id, nd.log.String()))
		c.start(nd)
		c.waitReady(20 * time.Second)
		readyIn := time.Since(start)
		st := opsWaitHealthy(t, c.endpoints(), ids, 20*time.Second)
		t.Logf("%s (%s) at %s: stopped in %v, ready after %v, all healthy after %v; %v",
			nd.id, role, start.Format("15:04:05.000"), stoppedIn.Round(time.Millisecond), readyIn.Round(time.Millisecond),
			time.Since(start).Round(time.Millisecond), st)
		time.Sleep(500 * time.Millisecond) // load on the full cluster between restarts
	}
	r := stopLoad()

	t.Logf("writes %d, acknowledged %d, failed %d; longest unavailability %v (ended %s); longest gap between acknowledgements %v",
		r.writes, len(r.acked), len(r.failures), r.longestOutage.Round(time.Millisecond), r.outageEnd.Format("15:04:05.000"),
		r.maxAckGap.Round(time.Millisecond))
	for i, f := range r.failures {
		if i == 20 {
			t.Logf("... and %d more failures", len(r.failures)-i)
			break
		}
		t.Logf("failed write: %s", f)
	}
	if len(r.acked) == 0 {
		t.Fatal("no write was acknowledged")
	}

	// Every acknowledged write is there, read linearizably through each node.
	for _, nd := range c.nodes {
		var l opsList
		opsMustCtlJSON(t, nd.grpc, &l, "namespace", "list", "--timeout", "30s")
		have := map[string]bool{}
		for _, ns := range l.Namespaces {
			have[ns.Name] = true
		}
		var missing []string
		for _, name := range r.acked {
			if !have[name] {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			t.Errorf("list through %s lacks %d of %d acknowledged writes, e.g. %v", nd.id, len(missing), len(r.acked), missing[:min(len(missing), 10)])
		}
	}
	if r.longestOutage > time.Second {
		t.Errorf("writes failed for %v in a row (ended %s); want at most 1s", r.longestOutage.Round(time.Millisecond), r.outageEnd.Format("15:04:05.000"))
	}
}

func TestGrowToFiveWithStandbys(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	// A steady write load while the cluster grows: no write may fail.
	cl, err := client.New(client.Config{Endpoints: strings.Split(c.endpoints(), ",")})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	stopLoad := make(chan struct{})
	loadDone := make(chan [2]int, 1)
	go func() {
		var writes, failed int
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				loadDone <- [2]int{writes, failed}
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: fmt.Sprintf("grow-%d", i%200),
				Abstraction: "keyvalue", Backend: "postgres", Capacity: &fsmpb.Capacity{EstimatedReadRps: int64(i)}}})
			cancel()
			writes++
			if err != nil {
				failed++
				t.Logf("write during growth failed: %v", err)
			}
		}
	}()
	extra := []*node{opsNewNode(t, "node4"), opsNewNode(t, "node5")}
	for _, nd := range extra {
		opsStart(t, nd, "--join", c.nodes[0].gossip)
	}
	start := time.Now()
	var st opsStatus
	opsEventually(t, 25*time.Second, "five servers, two of them standbys", func() error {
		st = opsStatus{}
		if err := opsCtlJSON(t, c.endpoints(), &st, "cluster", "status"); err != nil {
			return err
		}
		if len(st.Nodes) != 5 || st.LeaderID == "" {
			return fmt.Errorf("status %v", st)
		}
		for _, n := range st.Nodes {
			want := "voter"
			if n.ID == "node4" || n.ID == "node5" {
				want = "nonvoter"
			}
			if n.Suffrage != want || !n.Healthy {
				return fmt.Errorf("%s: want a healthy %s; status %v", n.ID, want, st)
			}
		}
		return nil
	})
	t.Logf("five servers after %v: %v", time.Since(start).Round(time.Millisecond), st)
	time.Sleep(500 * time.Millisecond) // a little more load with five servers
	close(stopLoad)
	if r := <-loadDone; r[1] != 0 || r[0] == 0 {
		t.Fatalf("%d of %d writes failed while the cluster grew", r[1], r[0])
	} else {
		t.Logf("%d writes while the cluster grew, none failed", r[0])
	}
	for _, nd := range extra {
		opsWaitReady(t, nd, 10*time.Second)
	}
	// Every node, the standbys included, sees the same membership.
	for _, nd := range append(c.nodes, extra...) {
		var s opsStatus
		opsMustCtlJSON(t, nd.grpc, &s, "cluster", "status")
		if opsSuffrages(s) != opsSuffrages(st) || s.ClusterID != st.ClusterID {
			t.Errorf("%s sees %v, cluster id %s; want %v, %s", nd.id, s, s.ClusterID, st, st.ClusterID)
		}
	}

	// Writes keep working, through a standby too, and standbys serve reads.
	mustCtl(t, extra[0].grpc, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	mustCtl(t, c.endpoints(), "namespace", "apply", "-f", "../examples/video-events.yaml")
	for _, nd := range extra {
		var l opsList
		opsMustCtlJSON(t, nd.grpc, &l, "namespace", "list")
		seen := map[string]bool{}
		for _, ns := range l.Namespaces {
			seen[ns.Name] = true
		}
		if !seen["user-profiles"] || !seen["video-events"] {
			t.Errorf("list through standby %s lacks the applied namespaces (%d listed)", nd.id, len(l.Namespaces))
		}
	}

	// Still three voters: the standbys are not promoted while every voter lives.
	var after opsStatus
	opsMustCtlJSON(t, c.endpoints(), &after, "cluster", "status")
	voters := 0
	for _, n := range after.Nodes {
		if n.Suffrage == "voter" {
			voters++
		}
	}
	if len(after.Nodes) != 5 || voters != 3 {
		t.Errorf("after writes: %v", after)
	}
}

func TestForeignNodeNeverAdded(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	var ours opsStatus
	// The first leader records the cluster id a moment after it is elected.
	deadline := time.Now().Add(10 * time.Second)
	for opsMustCtlJSON(t, c.endpoints(), &ours, "cluster", "status"); ours.ClusterID == ""; opsMustCtlJSON(t, c.endpoints(), &ours, "cluster", "status") {
		if time.Now().After(deadline) {
			t.Fatal("no cluster id recorded in 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}

	foreign := opsNewNode(t, "foreign1")
	opsStart(t, foreign, "--cluster-name", "other", "--bootstrap-expect", "1", "--join", c.nodes[0].gossip)
	// It forms a cluster of its own...
	opsWaitReady(t, foreign, 20*time.Second)
	var theirs opsStatus
	opsMustCtlJSON(t, foreign.grpc, &theirs, "cluster", "status")
	if len(theirs.Nodes) != 1 || theirs.LeaderID != "foreign1" || theirs.ClusterID == "" || theirs.ClusterID == ours.ClusterID {
		t.Fatalf("foreign node's own cluster: %+v (ours is %s)", theirs, ours.ClusterID)
	}

	// ...and, in five membership rounds of either leader, is never seen or
	// added by ours, nor ours by it.
	var ourLeader *node
	for _, nd := range c.nodes {
		if nd.id == ours.LeaderID {
			ourLeader = nd
		}
	}
	if ourLeader == nil {
		t.Fatalf("leader %q is none of our nodes", ours.LeaderID)
	}
	opsWaitRounds(t, 30*time.Second, 5, ourLeader, foreign)
	for _, nd := range c.nodes {
		var st opsStatus
		opsMustCtlJSON(t, nd.grpc, &st, "cluster", "status")
		if len(st.Nodes) != 3 || st.ClusterID != ours.ClusterID {
			t.Errorf("%s: status %v (cluster id %s, was %s)", nd.id, st, st.ClusterID, ours.ClusterID)
		}
		for _, n := range st.Nodes {
			if n.ID == foreign.id || n.RaftAddr == foreign.raft {
				t.Errorf("%s: foreign node in raft: %v", nd.id, st)
			}
		}
		var m opsMembers
		opsMustCtlJSON(t, nd.grpc, &m, "cluster", "members")
		if len(m.Members) != 3 {
			t.Errorf("%s: members %+v", nd.id, m)
		}
		for _, x := range m.Members {
			if x.ID == foreign.id || x.GossipAddr == foreign.gossip {
				t.Errorf("%s: foreign node among members: %+v", nd.id, m)
			}
		}
	}
	var m opsMembers
	opsMustCtlJSON(t, foreign.grpc, &m, "cluster", "members")
	if len(m.Members) != 1 || m.Members[0].ID != foreign.id {
		t.Errorf("foreign node sees members %+v", m)
	}
	// Ours still takes writes.
	mustCtl(t, c.endpoints(), "namespace", "apply", "-f", "../examples/user-profiles.yaml")
}

func TestSnapshotSaveRestoreAcrossClusters(t *testing.T) {
	needBinaries(t)
	a := startCluster(t, 3)
	for _, f := range []string{"user-profiles", "colocated", "video-events"} {
		mustCtl(t, a.endpoints(), "namespace", "apply", "-f", "../examples/"+f+".yaml")
	}
	var listA []byte
	opsEventually(t, 15*time.Second, "all namespaces active on A", func() error {
		out, errs, code := ctl(t, a.endpoints(), "namespace", "list", "-o", "json")
		if code != 0 {
			return fmt.Errorf("list: %s", errs)
		}
		var l opsList
		if err := json.Unmarshal([]byte(out), &l); err != nil {
			return err
		}
		if len(l.Namespaces) != 4 {
			return fmt.Errorf("%d namespaces", len(l.Namespaces))
		}
		for _, ns := range l.Namespaces {
			if ns.Status != "active" {
				return fmt.Errorf("%s is %s", ns.Name, ns.Status)
			}
		}
		listA = []byte(out)
		return nil
	})

	dir := t.TempDir()
	file := filepath.Join(dir, "a.snap")
	type snapInfo struct {
		Revision int64          `json:"revision"`
		Index    uint64         `json:"index"`
		Counts   map[string]int `json:"counts"`
		SHA256   string         `json:"sha256"`
		Bytes    int            `json:"bytes"`
	}
	var saved, info snapInfo
	opsMustCtlJSON(t, a.endpoints(), &saved, "snapshot", "save", file)
	opsMustCtlJSON(t, a.endpoints(), &info, "snapshot", "inspect", file)
	if info.Revision <= 0 || info.Counts["namespaces"] != 4 || len(info.SHA256) != 64 {
		t.Fatalf("inspect: %+v", info)
	}
	if fmt.Sprint(saved) != fmt.Sprint(info) {
		t.Errorf("save printed %+v, inspect %+v", saved, info)
	}
	if info.Revision != revisionOf(t, string(listA)) {
		t.Errorf("snapshot revision %d, list revision before it %d", info.Revision, revisionOf(t, string(listA)))
	}

	b := startCluster(t, 3)
	var before opsStatus
	opsEventually(t, 10*time.Second, "B's cluster id", func() error {
		before = opsStatus{}
		if err := opsCtlJSON(t, b.endpoints(), &before, "cluster", "status"); err != nil {
			return err
		}
		if before.ClusterID == "" {
			return fmt.Errorf("no cluster id yet")
		}
		return nil
	})
	var aStatus opsStatus
	opsMustCtlJSON(t, a.endpoints(), &aStatus, "cluster", "status")

	// A corrupted file is refused before anything is sent, and changes nothing.
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.snap")
	corrupt := bytes.Clone(data)
	corrupt[len(corrupt)/2] ^= 0x01
	if err := os.WriteFile(bad, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	emptyB := mustCtl(t, b.endpoints(), "namespace", "list", "-o", "json")
	if _, errs, code := ctl(t, b.endpoints(), "snapshot", "restore", bad); code == 0 {
		t.Errorf("restore of a corrupted snapshot succeeded")
	} else {
		t.Logf("restore of a corrupted snapshot: exit %d: %s", code, strings.TrimSpace(errs))
	}
	if _, _, code := ctl(t, b.endpoints(), "snapshot", "inspect", bad); code == 0 {
		t.Errorf("inspect of a corrupted snapshot succeeded")
	}
	if got := mustCtl(t, b.endpoints(), "namespace", "list", "-o", "json"); got != emptyB {
		t.Errorf("a refused restore changed B:\n%s\nwas\n%s", got, emptyB)
	}

	// The good file restores into B, which then lists what A listed.
	var restored struct {
		SnapshotRevision int64 `json:"snapshot_revision"`
		Revision         int64 `json:"revision"`
	}
	opsMustCtlJSON(t, b.endpoints(), &restored, "snapshot", "restore", file)
	if restored.SnapshotRevision != info.Revision || restored.Revision < info.Revision {
		t.Errorf("restore: %+v; snapshot revision %d", restored, info.Revision)
	}
	for _, nd := range b.nodes {
		listB := mustCtl(t, nd.grpc, "namespace", "list", "-o", "json")
		if listB != string(listA) {
			if opsNamespacesJSON(t, listB) != opsNamespacesJSON(t, string(listA)) {
				t.Errorf("B (%s) lists\n%s\nA listed\n%s", nd.id, listB, listA)
			} else {
				t.Logf("B (%s) lists A's namespaces byte for byte; list revision %d on B, %d on A", nd.id, revisionOf(t, listB), revisionOf(t, string(listA)))
			}
		}
	}
	// B keeps its own raft membership; it still takes writes.
	var after opsStatus
	opsMustCtlJSON(t, b.endpoints(), &after, "cluster", "status")
	if len(after.Nodes) != 3 || after.LeaderID == "" {
		t.Errorf("B after restore: %v", after)
	}
	for i, n := range after.Nodes {
		if n.RaftAddr != before.Nodes[i].RaftAddr {
			t.Errorf("B's membership changed: %v, was %v", after, before)
		}
	}
	if after.ClusterID != before.ClusterID {
		t.Fatalf("B's cluster id changed with the restore: %s → %s (A's is %s)", before.ClusterID, after.ClusterID, aStatus.ClusterID)
	}
	mustCtl(t, b.endpoints(), "namespace", "delete", "user-settings", "--wait")
}

// TestSnapshotRestoreKeepsClustersApart: restoring cluster A's snapshot
// into cluster B must not make the two one cluster. README: "a leader only
// adds servers that are fresh or carry its own cluster id, so two clusters
// on one host never merge"; a node of A given B among its --join seeds
// (an operator's slip) must stay out of B, and B's out of A.
func TestSnapshotRestoreKeepsClustersApart(t *testing.T) {
	needBinaries(t)
	a, b := opsNewNode(t, "a1"), opsNewNode(t, "b1")
	opsStart(t, a, "--bootstrap-expect", "1")
	opsStart(t, b, "--bootstrap-expect", "1")
	opsWaitReady(t, a, 20*time.Second)
	opsWaitReady(t, b, 20*time.Second)
	mustCtl(t, a.grpc, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	file := filepath.Join(t.TempDir(), "a.snap")
	mustCtl(t, a.grpc, "snapshot", "save", file)
	mustCtl(t, b.grpc, "snapshot", "restore", file)

	opsStop(t, a, syscall.SIGTERM, 15*time.Second)
	opsStart(t, a, "--bootstrap-expect", "1", "--join", b.gossip)
	opsWaitReady(t, a, 20*time.Second)
	opsWaitRounds(t, 30*time.Second, 5, a, b) // rounds for either leader to add the other's server
	for _, nd := range []*node{a, b} {
		var st opsStatus
		opsMustCtlJSON(t, nd.grpc, &st, "cluster", "status")
		if st.LeaderID != nd.id || len(st.Nodes) != 1 {
			t.Errorf("%s: %v, cluster id %s", nd.id, st, st.ClusterID)
		}
	}
}

// opsNamespacesJSON is the compact JSON of a list's namespaces (without
// the list's own revision).
func opsNamespacesJSON(t *testing.T, listJSON string) string {
	t.Helper()
	var v struct {
		Namespaces json.RawMessage `json:"namespaces"`
	}
	if err := json.Unmarshal([]byte(listJSON), &v); err != nil {
		t.Fatalf("list JSON: %v", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, v.Namespaces); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestRecoverSurvivor(t *testing.T) {
	needBinaries(t)
	c := startCluster(t, 3)
	mustCtl(t, c.endpoints(), "namespace", "apply", "-f", "../examples/user-profiles.yaml")
	var want map[string]any
	if err := json.Unmarshal([]byte(mustCtl(t, c.endpoints(), "namespace", "get", "user-profiles", "-o", "json")), &want); err != nil {
		t.Fatal(err)
	}

	// The survivor is a follower that has applied the write (a write is
	// only promised to a majority, and this test loses the other two).
	var st opsStatus
	opsMustCtlJSON(t, c.endpoints(), &st, "cluster", "status")
	var survivor *node
	for _, nd := range c.nodes {
		if nd.id != st.LeaderID {
			survivor = nd
			break
		}
	}
	opsEventually(t, 10*time.Second, "survivor has the write", func() error {
		_, errs, code := ctl(t, survivor.grpc, "namespace", "get", "user-profiles", "--consistency", "stale")
		if code != 0 {
			return fmt.Errorf("%s", errs)
		}
		return nil
	})

	for _, nd := range c.nodes {
		if nd != survivor {
			opsStop(t, nd, syscall.SIGKILL, 10*time.Second)
		}
	}
	start := time.Now()
	ps := opsStop(t, survivor, syscall.SIGTERM, 20*time.Second)
	t.Logf("survivor %s stopped in %v (exit %d) without a quorum", survivor.id, time.Since(start).Round(time.Millisecond), ps.ExitCode())

	peers := filepath.Join(t.TempDir(), "peers.json")
	if err := os.WriteFile(peers, fmt.Appendf(nil, `[{"id": %q, "address": %q}]`, survivor.id, survivor.raft), 0o600); err != nil {
		t.Fatal(err)
	}
	rec := exec.Command(filepath.Join(binDir, "prismd"), "recover", "--data-dir", survivor.dataDir, "--peers", peers, "--node-id", survivor.id)
	out, err := rec.CombinedOutput()
	if err != nil {
		t.Fatalf("prismd recover: %v\n%s", err, out)
	}
	t.Logf("prismd recover: %s", strings.TrimSpace(string(out)))

	// Started again exactly as before (its raft state makes
	// --bootstrap-expect 3 and the dead --join seeds irrelevant).
	start = time.Now()
	c.start(survivor)
	c.waitReady(20 * time.Second)
	t.Logf("survivor ready %v after its restart", time.Since(start).Round(time.Millisecond))

	opsMustCtlJSON(t, survivor.grpc, &st, "cluster", "status")
	if st.LeaderID != survivor.id || len(st.Nodes) != 1 || st.Nodes[0].Suffrage != "voter" {
		t.Errorf("survivor's status: %v", st)
	}
	var got map[string]any
	opsMustCtlJSON(t, survivor.grpc, &got, "namespace", "get", "user-profiles")
	for _, k := range []string{"name", "create_revision", "backend", "capacity", "access", "backend_config"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(want[k]) {
			t.Errorf("user-profiles %s: %v, was %v", k, got[k], want[k])
		}
	}
	mustCtl(t, survivor.grpc, "namespace", "apply", "-f", "../examples/video-events.yaml")
	var l opsList
	opsMustCtlJSON(t, survivor.grpc, &l, "namespace", "list")
	if len(l.Namespaces) != 2 {
		t.Errorf("list after recovery: %+v", l)
	}
}

// TestDeadServerRemovedAndBack: with standbys, a voter killed for longer
// than --dead-server-cleanup is replaced by a standby and removed, the
// voters never dropping below --min-quorum; restarted, it comes back as a
// standby.
func TestDeadServerRemovedAndBack(t *testing.T) {
	needBinaries(t)
	nodes := []*node{opsNewNode(t, "node1"), opsNewNode(t, "node2"), opsNewNode(t, "node3"), opsNewNode(t, "node4"), opsNewNode(t, "node5")}
	fast := []string{"--server-stabilization", "500ms", "--dead-server-cleanup", "3s", "--min-quorum", "3"}
	var seeds []string
	for _, nd := range nodes[:3] {
		seeds = append(seeds, nd.gossip)
	}
	flags := func(nd *node, boot bool) []string {
		f := append([]string{"--join", strings.Join(seeds, ",")}, fast...)
		if boot {
			f = append(f, "--bootstrap-expect", "3")
		}
		return f
	}
	for i, nd := range nodes {
		opsStart(t, nd, flags(nd, i < 3)...)
		if i == 2 {
			for _, n := range nodes[:3] {
				opsWaitReady(t, n, 20*time.Second)
			}
		}
	}
	eps := strings.Join([]string{nodes[0].grpc, nodes[1].grpc, nodes[2].grpc, nodes[3].grpc, nodes[4].grpc}, ",")
	suffrage := func() (map[string]string, error) {
		var st opsStatus
		if err := opsCtlJSON(t, eps, &st, "cluster", "status"); err != nil {
			return nil, err
		}
		out := map[string]string{}
		for _, n := range st.Nodes {
			out[n.ID] = n.Suffrage
		}
		return out, nil
	}
	opsEventually(t, 20*time.Second, "two standbys", func() error {
		s, err := suffrage()
		if err != nil {
			return err
		}
		if len(s) != 5 || s["node4"] != "nonvoter" || s["node5"] != "nonvoter" {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
	victim := nodes[1]
	var st opsStatus
	opsMustCtlJSON(t, eps, &st, "cluster", "status")
	if st.LeaderID == victim.id {
		victim = nodes[2]
	}
	opsStop(t, victim, syscall.SIGKILL, 5*time.Second)
	start := time.Now()
	opsEventually(t, 30*time.Second, "dead voter replaced and removed", func() error {
		s, err := suffrage()
		if err != nil {
			return err
		}
		voters := 0
		for _, v := range s {
			if v == "voter" {
				voters++
			}
		}
		if voters < 3 {
			t.Fatalf("voters dropped to %d: %v", voters, s)
		}
		if _, still := s[victim.id]; still || voters != 3 {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
	t.Logf("%s removed %v after kill -9, a standby promoted", victim.id, time.Since(start).Round(time.Millisecond))
	opsStart(t, victim, flags(victim, true)...)
	opsEventually(t, 20*time.Second, victim.id+" back as a standby", func() error {
		s, err := suffrage()
		if err != nil {
			return err
		}
		if s[victim.id] != "nonvoter" {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
	mustCtl(t, eps, "namespace", "apply", "-f", "../examples/user-profiles.yaml")
}
