package apifuzz_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/apifuzz"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Environment knobs: the seed reproduces each client's requests, the time
// makes the run longer (make fuzz-api), the trace file keeps every request.
const (
	envSeed  = "PRISM_APIFUZZ_SEED"
	envTime  = "PRISM_APIFUZZ_TIME"
	envCalls = "PRISM_APIFUZZ_CALLS"
	envTrace = "PRISM_APIFUZZ_TRACE"
	// envSkip is a regexp of methods (full paths) to leave out, for
	// triage: to look past a known crash while its fix is pending. The
	// test logs what it leaves out; make targets never set it.
	envSkip = "PRISM_APIFUZZ_SKIP"
)

const internalService protoreflect.FullName = "prism.v1.Internal"

// target is where each service is served: the public gRPC port, except the
// node-to-node Internal service, which nodes serve on the raft port (gRPC
// told from raft by its first bytes). It is fuzzed there: whoever reaches
// the raft port can call it, and the test cluster has no gossip key, so no
// node token guards it. Should it move again, its line below is the one
// to change.
func target(c *testcluster.Cluster) func(protoreflect.FullName, int) string {
	return func(svc protoreflect.FullName, i int) string {
		if svc == internalService {
			return c.Config(i).Cluster.RaftAddr
		}
		return c.Endpoint(i)
	}
}

// guard decides which requests the fuzzer may send to a cluster whose
// invariants it checks afterwards:
//   - never a removal of one of the cluster's own servers (ClusterService
//     RemovePeer, Internal ForwardAdmin remove_peer): removing a voter is
//     the API's documented way to shrink the cluster, and a cluster of
//     fewer voters is not one the end checks (three nodes agreeing) apply
//     to. Removals of unknown ids are sent (they must be refused).
//   - leader transfers (TransferLeader, ForwardAdmin transfer_leader) and
//     restores of a valid snapshot, at most one each per interval: both are
//     allowed and the checks account for them (the revision may not go
//     down across a restore), but a stream of them would leave the cluster
//     electing or installing snapshots the whole run.
type guard struct {
	ids   map[string]bool
	every time.Duration
	mu    sync.Mutex
	last  map[string]time.Time
}

func (g *guard) allow(m apifuzz.Method, req proto.Message) bool {
	switch r := req.(type) {
	case *rpcpb.RemovePeerRequest:
		if g.ids[r.GetId()] {
			return false
		}
	case *rpcpb.ForwardAdminRequest:
		if g.ids[r.GetRemovePeer().GetId()] {
			return false
		}
		if r.GetTransferLeader() != nil {
			return g.throttle("transfer")
		}
	case *rpcpb.TransferLeaderRequest:
		return g.throttle("transfer")
	case *rpcpb.SnapshotChunk:
		if _, _, _, err := fsm.SnapshotInfo(bytes.NewReader(r.GetData())); err == nil {
			return g.throttle("restore")
		}
	}
	return true
}

func (g *guard) throttle(key string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.last[key]) < g.every {
		return false
	}
	g.last[key] = time.Now()
	return true
}

// exampleSpecs are the valid namespace specs of the repository's examples.
func exampleSpecs(t *testing.T) []*fsmpb.NamespaceSpec {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples (../../examples/*.yaml): %v", err)
	}
	var specs []*fsmpb.NamespaceSpec
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if s, err := nsfile.Parse(data); err == nil {
			specs = append(specs, s...)
		}
	}
	if len(specs) == 0 {
		t.Fatal("no example parses")
	}
	return specs
}

func settings(t *testing.T) (seed uint64, d time.Duration, calls int64) {
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv(envSeed); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", envSeed, s, err)
		}
	}
	d = 15 * time.Second
	if s := os.Getenv(envTime); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("%s=%q: %v", envTime, s, err)
		}
	}
	calls = 1_000_000
	if s := os.Getenv(envCalls); s != "" {
		var err error
		if calls, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", envCalls, s, err)
		}
	}
	return seed, d, calls
}

// TestAPIFuzz drives every RPC of every service of a 3-node cluster with
// random and mutated requests from several clients, then checks that every
// node is alive, the three state machines agree, a write and a
// linearizable read of it work, and no node's revision ever went down.
func TestAPIFuzz(t *testing.T) {
	if testing.Short() {
		t.Skip("apifuzz: fuzzes a 3-node cluster for 15 s; not with -short")
	}
	seed, d, maxCalls := settings(t)
	t.Logf("apifuzz: seed %d (%s=%d reproduces each client's requests), %v, at most %d calls", seed, envSeed, seed, d, maxCalls)

	c := testcluster.Start(t, 3)
	cl := c.Client()
	specs := exampleSpecs(t)
	ctx := testcluster.Ctx(t, d+2*time.Minute)

	// Some state for the requests to meet, and a valid snapshot to restore.
	for _, s := range specs[:min(2, len(specs))] {
		s = proto.Clone(s).(*fsmpb.NamespaceSpec)
		s.Name = "fz-" + s.Name
		if _, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: s}); err != nil {
			t.Fatalf("apply %s: %v", s.Name, err)
		}
	}
	if _, err := cl.RegisterShard(ctx, &fsmpb.ShardSpec{Id: apifuzz.ShardIDs[0], Endpoints: []string{"127.0.0.1:1"}, Backends: []string{"postgres"}}); err != nil {
		t.Fatalf("register shard: %v", err)
	}
	snap, err := cl.SaveSnapshot(ctx)
	if err != nil {
		t.Fatalf("save snapshot: %v", err)
	}

	var ids []string
	g := &guard{ids: map[string]bool{}, every: 2 * time.Second, last: map[string]time.Time{}}
	for _, s := range c.Servers {
		ids = append(ids, s.Node.ID())
		g.ids[s.Node.ID()] = true
	}
	methods := apifuzz.Methods(apifuzz.Files())
	if s := os.Getenv(envSkip); s != "" {
		re, err := regexp.Compile(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", envSkip, s, err)
		}
		kept := methods[:0]
		for _, m := range methods {
			if re.MatchString(m.FullMethod()) {
				t.Logf("apifuzz: %s leaves out %s", envSkip, m.FullMethod())
				continue
			}
			kept = append(kept, m)
		}
		methods = kept
	}
	cfg := apifuzz.Config{
		Methods:  methods,
		Seeds:    apifuzz.Seeds(specs, snap),
		Words:    apifuzz.Words(ids),
		Nodes:    len(c.Servers),
		Target:   target(c),
		Allow:    g.allow,
		Clients:  8,
		Duration: d,
		MaxCalls: maxCalls,
		Seed:     seed,
	}
	if p := os.Getenv(envTrace); p != "" {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg.Trace = f
	}

	// The monitors run for the whole fuzz.
	var v violations
	mctx, stopMonitors := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var maxRev []int64
	watches := make([]*watchState, len(c.Servers))
	wg.Add(1 + len(c.Servers))
	go func() { defer wg.Done(); maxRev = sampleRevisions(mctx, c, &v) }()
	for i := range c.Servers {
		go func() { defer wg.Done(); watches[i] = watchNode(mctx, c.Endpoint(i), i, &v) }()
	}

	stats, err := apifuzz.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("apifuzz summary (seed %d):\n%s", seed, stats.Table())
	for k, ex := range stats.Examples() {
		t.Logf("apifuzz: suspect answers %s, e.g.: %s", k, strings.Join(ex, " | "))
	}
	for _, m := range methods {
		if stats.Calls(m.FullMethod()) == 0 && stats.Total() > int64(50*len(methods)) {
			t.Errorf("apifuzz: %s was never called", m.FullMethod())
		}
	}

	checkCluster(t, c, cl, specs[0], seed)
	checkInternalNotPublic(t, c, methods)
	stopMonitors()
	wg.Wait()
	for i, w := range watches {
		t.Logf("apifuzz: node %d watch: %d events, %d reopenings, up to revision %d", i+1, w.events, w.reopens, w.closed)
	}
	for _, e := range v.list() {
		t.Errorf("apifuzz: %s", e)
	}
	for i, s := range c.Servers {
		if r := s.Node.FSM().Revision(); r < maxRev[i] {
			t.Errorf("apifuzz: node %d ends at revision %d, below %d seen during the run", i+1, r, maxRev[i])
		}
	}
	if t.Failed() {
		t.Logf("apifuzz: reproduce the requests with %s=%d", envSeed, seed)
	}
	stopWithin(t, c, time.Minute, seed)
}

// stopWithin stops every node, each within d. A node that cannot stop
// would hang the test forever (a panic would not help: the cleanup that
// runs on it stops the same node again): instead every goroutine's stack
// goes to stderr and the test binary exits, naming the node.
func stopWithin(t *testing.T, c *testcluster.Cluster, d time.Duration, seed uint64) {
	for i := range c.Servers {
		done := make(chan struct{})
		go func() { defer close(done); c.Stop(i, false) }()
		select {
		case <-done:
		case <-time.After(d):
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			fmt.Fprintf(os.Stderr, "--- FAIL: %s: apifuzz: node %d did not stop within %v after the fuzz (%s=%d); every stack is above\n",
				t.Name(), i+1, d, envSeed, seed)
			os.Exit(1)
		}
	}
}

// checkCluster checks the end state: every node alive and serving, three
// voters, a write and a linearizable read of it on every node, and the
// three state machines identical at the same index.
func checkCluster(t *testing.T, c *testcluster.Cluster, cl interface {
	Apply(context.Context, *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error)
}, spec *fsmpb.NamespaceSpec, seed uint64) {
	t.Helper()
	ctx := testcluster.Ctx(t, time.Minute)
	for i := range c.Servers {
		cc, err := grpc.NewClient(c.Endpoint(i), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		testcluster.Eventually(t, 20*time.Second, func() error {
			h, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
			if err != nil {
				return fmt.Errorf("node %d health: %w", i+1, err)
			}
			if h.Status != healthpb.HealthCheckResponse_SERVING {
				return fmt.Errorf("node %d health: %v", i+1, h.Status)
			}
			st, err := rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{})
			if err != nil {
				return fmt.Errorf("node %d status: %w", i+1, err)
			}
			voters := 0
			for _, n := range st.Nodes {
				if n.Suffrage == "voter" {
					voters++
				}
			}
			if voters != 3 || st.LeaderId == "" {
				return fmt.Errorf("node %d sees %d voters and leader %q", i+1, voters, st.LeaderId)
			}
			return nil
		})
	}
	c.WaitLeader(20 * time.Second)

	s := proto.Clone(spec).(*fsmpb.NamespaceSpec)
	s.Name = fmt.Sprintf("fz-final-%d", seed%1_000_000)
	var rev int64
	testcluster.Eventually(t, 20*time.Second, func() error {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := cl.Apply(wctx, &rpcpb.ApplyRequest{Spec: s, RequestId: s.Name})
		if err != nil {
			return fmt.Errorf("write after the fuzz: %w", err)
		}
		rev = resp.Revision
		return nil
	})
	for i := range c.Servers {
		cc, err := grpc.NewClient(c.Endpoint(i), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		testcluster.Eventually(t, 20*time.Second, func() error {
			resp, err := rpcpb.NewNamespaceServiceClient(cc).Get(ctx, &rpcpb.GetRequest{Name: s.Name})
			if err != nil {
				return fmt.Errorf("node %d linearizable read: %w", i+1, err)
			}
			if resp.Header.GetRevision() < rev || resp.Namespace.GetSpec().GetName() != s.Name {
				return fmt.Errorf("node %d read %q at revision %d, want it at %d or later", i+1, resp.Namespace.GetSpec().GetName(), resp.Header.GetRevision(), rev)
			}
			return nil
		})
	}

	// The state machines agree: the same snapshot bytes at the same index.
	testcluster.Eventually(t, 30*time.Second, func() error {
		var first []byte
		var at uint64
		for i, srv := range c.Servers {
			sn := srv.Node.FSM().Snapshot()
			var buf bytes.Buffer
			if _, err := sn.WriteTo(&buf); err != nil {
				return err
			}
			switch {
			case i == 0:
				first, at = buf.Bytes(), sn.Index()
			case sn.Index() != at:
				return fmt.Errorf("node %d applied index %d, node 1 %d", i+1, sn.Index(), at)
			case !bytes.Equal(buf.Bytes(), first):
				t.Fatalf("apifuzz: node %d's state at index %d differs from node 1's (%d and %d bytes)", i+1, at, buf.Len(), len(first))
			}
		}
		return nil
	})
}

// checkInternalNotPublic: the public port does not serve Internal: each of
// its methods answers Unimplemented there.
func checkInternalNotPublic(t *testing.T, c *testcluster.Cluster, methods []apifuzz.Method) {
	t.Helper()
	ctx := testcluster.Ctx(t, 30*time.Second)
	cc, err := grpc.NewClient(c.Endpoint(0), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, m := range methods {
		if m.Service != internalService || m.Streaming() {
			continue
		}
		err := cc.Invoke(ctx, m.FullMethod(), apifuzz.New(m.Desc.Input()), apifuzz.New(m.Desc.Output()))
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("apifuzz: %s on the public port answered %v, want Unimplemented", m.FullMethod(), err)
		}
	}
}
