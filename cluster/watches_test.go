package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func create(id, from int64, names, kinds []string) *rpcpb.WatchesRequest {
	return &rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: id,
		Request: &rpcpb.WatchRequest{FromRevision: from, Names: names, Kinds: kinds}}}}
}

// TestWatchesOneMessagePerRevision: watches on one Watches stream get a
// revision as one message naming all of them; a bad create ends only that
// watch, with the error Watch would give; a cancelled watch gets nothing
// more.
func TestWatchesOneMessagePerRevision(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	rev := mustApply(t, cl, spec("before", 1)).Revision
	cc, err := grpc.NewClient(c.Endpoint(0), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := testcluster.Ctx(t, 20*time.Second)
	st, err := rpcpb.NewWatchServiceClient(cc).Watches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*rpcpb.WatchesRequest{
		create(1, rev, []string{"a"}, nil),
		create(2, rev, nil, []string{"namespace"}),
		create(3, rev, nil, []string{"bogus"}),
	} {
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	// Watch 3 ends with the field error; 1 and 2 are untouched by it.
	// Watch 2 (all namespaces) may get the reconciler's revision first:
	// messages of different watches have no order between them.
	var resp *rpcpb.WatchesResponse
	for {
		resp, err = st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Ended) > 0 || !slices.Equal(resp.WatchIds, []int64{2}) {
			break
		}
	}
	sp := &spb.Status{}
	if err := proto.Unmarshal(resp.Ended, sp); err != nil || !slices.Equal(resp.WatchIds, []int64{3}) {
		t.Fatalf("want watch 3 ended, got %v (%v)", resp, err)
	}
	if s := status.FromProto(sp); s.Code() != codes.InvalidArgument || len(client.FieldViolations(s.Err())) != 1 {
		t.Fatalf("watch 3 ended with %v", s.Err())
	}
	created := mustApply(t, cl, spec("a", 1)).Revision
	// Until the creation of a: only revisions naming neither (b's, the
	// reconciler's), which watch 2 gets alone.
	for {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Events) == 0 || resp.Events[0].Revision != created {
			if slices.Contains(resp.WatchIds, 1) {
				t.Fatalf("watch 1 (name a) got %v", resp)
			}
			continue
		}
		ids := slices.Clone(resp.WatchIds)
		slices.Sort(ids)
		if !slices.Equal(ids, []int64{1, 2}) || len(resp.Events) != 1 || resp.Events[0].Name != "a" {
			t.Fatalf("revision %d: want one message for watches 1 and 2, got %v", created, resp)
		}
		break
	}
	// Cancel watch 1 and reuse its id for a watch of another name: the old
	// watch must go (members are told apart by identity, not id).
	if err := st.Send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Cancel{Cancel: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := st.Send(create(1, created, []string{"z"}, nil)); err != nil {
		t.Fatal(err)
	}
	// After the cancel is taken, a's changes reach watch 2 only. The
	// cancel and the next change race, so wait for a change of a that
	// names watch 2 alone.
	testcluster.Eventually(t, 10*time.Second, func() error {
		r := mustApply(t, cl, spec("a", time.Now().UnixNano()%1000+2)).Revision
		for {
			resp, err := st.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Events) > 0 && resp.Events[0].Revision == r {
				if slices.Equal(resp.WatchIds, []int64{2}) {
					return nil
				}
				return fmt.Errorf("revision %d went to %v", r, resp.WatchIds)
			}
		}
	})
}

// TestWatchesOnOneClient: many watches of one client share its stream, and
// each gets exactly its own events, in order.
func TestWatchesOnOneClient(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	const names = 8
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	got := map[string][]int64{} // watch → put revisions
	var wg sync.WaitGroup
	started := make(chan struct{}, names+1)
	watch := func(key string, names []string) {
		defer wg.Done()
		first := true
		_ = cl.Watch(ctx, &rpcpb.WatchRequest{Kinds: []string{"namespace"}, Names: names}, func(e *rpcpb.WatchEvent) error {
			if e.Type == "bookmark" && first {
				first = false
				started <- struct{}{}
			}
			if e.Type == "put" {
				mu.Lock()
				got[key] = append(got[key], e.Revision)
				mu.Unlock()
			}
			return nil
		})
	}
	for i := 0; i < names; i++ {
		wg.Add(1)
		go watch(fmt.Sprintf("n%d", i), []string{fmt.Sprintf("n%d", i)})
	}
	wg.Add(1)
	go watch("all", nil)
	for i := 0; i < names+1; i++ {
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("watches did not start")
		}
	}
	want := map[string][]int64{}
	for i := 0; i < 3*names; i++ {
		name := fmt.Sprintf("n%d", i%names)
		r := mustApply(t, cl, spec(name, int64(i))).Revision
		want[name] = append(want[name], r)
	}
	testcluster.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		for name, revs := range want {
			// The reconciler's activations are puts too: each watch's
			// revisions must include the writes, ascending, and nothing
			// of another name.
			g := got[name]
			if !slices.IsSorted(g) || len(slices.Compact(slices.Clone(g))) != len(g) {
				return fmt.Errorf("%s: out of order or repeated: %v", name, g)
			}
			for _, r := range revs {
				if !slices.Contains(g, r) {
					return fmt.Errorf("%s: missing revision %d in %v", name, r, g)
				}
				if !slices.Contains(got["all"], r) {
					return fmt.Errorf("all: missing revision %d", r)
				}
			}
		}
		total := 0
		for name, g := range got {
			if name != "all" {
				total += len(g)
			}
		}
		if total != len(got["all"]) {
			return fmt.Errorf("the named watches got %d puts, the unfiltered one %d", total, len(got["all"]))
		}
		return nil
	})
	cancel()
	wg.Wait()
}

// TestSlowWatchOnASharedStreamEndsAlone: a watch whose function stalls
// ends with WATCHER_TOO_SLOW; a watch beside it on the same stream keeps
// every event.
func TestSlowWatchOnASharedStreamEndsAlone(t *testing.T) {
	c := testcluster.Start(t, 1)
	w := c.Client()
	cl, err := client.New(client.Config{Endpoints: []string{c.Endpoint(0)}, WatchBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	from := mustApply(t, w, spec("start", 1)).Revision
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	release := make(chan struct{})
	slowDone := make(chan error, 1)
	var slowLast int64 // the last revision the slow watch was given
	go func() {
		slowDone <- cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from}, func(e *rpcpb.WatchEvent) error {
			<-release
			slowLast = max(slowLast, e.Revision)
			return nil
		})
	}()
	var fast []int64
	fastDone := make(chan error, 1)
	const writes = 30
	var last int64
	var lastMu sync.Mutex
	go func() {
		fastDone <- cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, Names: []string{"x"}}, func(e *rpcpb.WatchEvent) error {
			if e.Type == "put" {
				fast = append(fast, e.Revision)
				lastMu.Lock()
				defer lastMu.Unlock()
				if len(fast) >= writes && last != 0 && e.Revision >= last {
					return errDone
				}
			}
			return nil
		})
	}()
	for i := 0; i < writes; i++ {
		r := mustApply(t, w, spec("x", int64(i+2))).Revision
		lastMu.Lock()
		last = r
		lastMu.Unlock()
	}
	if err := <-fastDone; !errors.Is(err, errDone) {
		t.Fatalf("fast watch ended with %v after %d events", err, len(fast))
	}
	close(release)
	if err := <-slowDone; client.Reason(err) != rpcpb.ReasonWatcherTooSlow {
		t.Fatalf("slow watch ended with %v", err)
	}
	// It resumes from the last revision it was given and gets the rest,
	// gap-free, up to the last write (on a client with the default buffer:
	// a backlog arrives as a burst, more than 4 messages at once).
	next := slowLast
	err = w.Watch(ctx, &rpcpb.WatchRequest{FromRevision: slowLast}, func(e *rpcpb.WatchEvent) error {
		if e.Type == "bookmark" {
			return nil
		}
		if e.Revision <= slowLast || e.Revision < next {
			return fmt.Errorf("revision %d after resuming from %d (expected at least %d)", e.Revision, slowLast, next)
		}
		next = e.Revision
		if e.Revision >= last {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("resumed slow watch: %v (last revision %d, want %d)", err, next, last)
	}
}

var errDone = errors.New("done")

// freezer is a TCP proxy that can stop forwarding without closing
// anything: a node as a client sees it when its host vanishes (no RST).
type freezer struct {
	ln     net.Listener
	frozen chan struct{}
	once   sync.Once
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, frozen: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			t.Cleanup(func() { in.Close(); out.Close() })
			go f.pipe(in, out)
			go f.pipe(out, in)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-f.frozen:
			return // swallow everything from now on; close nothing
		default:
		}
		if err != nil {
			return
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (f *freezer) freeze() { f.once.Do(func() { close(f.frozen) }) }

// TestWatchLeavesAVanishedNode: a watch on a node that stops answering
// without closing its connection (keepalive, not TCP's timeout) resumes on
// another node and gets what was written meanwhile.
func TestWatchLeavesAVanishedNode(t *testing.T) {
	c := testcluster.Start(t, 3)
	f1 := c.Follower()
	f2 := c.Follower(f1)
	proxy := newFreezer(t, c.Endpoint(f1))
	cl, err := client.New(client.Config{Endpoints: []string{proxy.ln.Addr().String(), c.Endpoint(f2)}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	writer := c.Client()
	from := mustApply(t, writer, spec("vanish", 1)).Revision
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	var target int64
	var targetMu sync.Mutex
	seen := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, Names: []string{"vanish"}}, func(e *rpcpb.WatchEvent) error {
			targetMu.Lock()
			defer targetMu.Unlock()
			if target != 0 && e.Revision >= target {
				return errDone
			}
			select {
			case seen <- struct{}{}:
			default:
			}
			return nil
		})
	}()
	mustApply(t, writer, spec("vanish", 2))
	select {
	case <-seen: // the watch is live through the proxy
	case <-time.After(10 * time.Second):
		t.Fatal("no event through the proxy")
	}
	proxy.freeze()
	start := time.Now()
	r := mustApply(t, writer, spec("vanish", 3)).Revision
	targetMu.Lock()
	target = r
	targetMu.Unlock()
	if err := <-done; !errors.Is(err, errDone) {
		t.Fatalf("watch ended with %v", err)
	}
	t.Logf("resumed on another node and got revision %d %v after the freeze", r, time.Since(start).Round(time.Millisecond))
}

// TestRequestProgress: an idle watch gets a bookmark on request, at the
// newest revision, long before its interval.
func TestRequestProgress(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	from := mustApply(t, cl, spec("p-watched", 1)).Revision
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bookmarks := make(chan int64, 16)
	go func() {
		_ = cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, Names: []string{"p-watched"}, BookmarkIntervalMs: 60_000}, func(e *rpcpb.WatchEvent) error {
			if e.Type == "bookmark" {
				bookmarks <- e.Revision
			}
			return nil
		})
	}()
	other := mustApply(t, cl, spec("p-other", 1)).Revision // filtered out, but progress
	testcluster.Eventually(t, 10*time.Second, func() error {
		if err := cl.RequestProgress(ctx); err != nil {
			return err
		}
		select {
		case rev := <-bookmarks:
			if rev < other {
				return fmt.Errorf("bookmark at %d, want at least %d", rev, other)
			}
			return nil
		case <-time.After(500 * time.Millisecond):
			return errors.New("no bookmark yet")
		}
	})
}

// TestWatchOneStreamPerWatch: the Watch RPC (one stream per watch, what
// grpcurl and older clients use) lists the state, then streams changes.
func TestWatchOneStreamPerWatch(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	mustApply(t, cl, spec("one-a", 1))
	cc, err := grpc.NewClient(c.Endpoint(0), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	st, err := rpcpb.NewWatchServiceClient(cc).Watch(testcluster.Ctx(t, 20*time.Second), &rpcpb.WatchRequest{Names: []string{"one-a", "one-b"}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Events); n != 2 || resp.Events[0].Name != "one-a" || resp.Events[1].Type != "bookmark" {
		t.Fatalf("listing: %v", resp)
	}
	r := mustApply(t, cl, spec("one-b", 1)).Revision
	for {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Events) > 0 && resp.Events[0].Revision == r {
			if resp.Events[0].Name != "one-b" {
				t.Fatalf("revision %d: %v", r, resp)
			}
			return
		}
	}
}

// TestWatchOutlivesAttemptTimeout: AttemptTimeout bounds how long a watch
// waits to start on one node, not how long it lives.
func TestWatchOutlivesAttemptTimeout(t *testing.T) {
	c := testcluster.Start(t, 1)
	w := c.Client()
	cl, err := client.New(client.Config{Endpoints: []string{c.Endpoint(0)}, AttemptTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	from := mustApply(t, w, spec("long", 1)).Revision
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan int64, 64)
	done := make(chan error, 1)
	go func() {
		done <- cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, Names: []string{"long"}}, func(e *rpcpb.WatchEvent) error {
			if e.Type == "put" {
				got <- e.Revision
			}
			return nil
		})
	}()
	for i := 0; i < 3; i++ {
		time.Sleep(400 * time.Millisecond) // longer than AttemptTimeout between events
		r := mustApply(t, w, spec("long", int64(i+2))).Revision
		for rev := int64(0); rev < r; {
			select {
			case rev = <-got:
			case err := <-done:
				t.Fatalf("watch ended with %v", err)
			case <-time.After(10 * time.Second):
				t.Fatalf("revision %d not delivered", r)
			}
		}
	}
	// A request the node cannot honour is refused with the field named.
	err = cl.Watch(ctx, &rpcpb.WatchRequest{BookmarkIntervalMs: 1 << 62}, func(*rpcpb.WatchEvent) error { return nil })
	if v := client.FieldViolations(err); len(v) != 1 || !strings.HasPrefix(v[0], "bookmark_interval_ms") {
		t.Fatalf("want a bookmark_interval_ms violation, got %v (%v)", err, v)
	}
}
