package client

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// countingAdmin counts RemovePeer calls and answers them with err.
type countingAdmin struct {
	rpcpb.UnimplementedClusterServiceServer
	mu    sync.Mutex
	calls int
	err   error
}

func (a *countingAdmin) RemovePeer(context.Context, *rpcpb.RemovePeerRequest) (*rpcpb.RemovePeerResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	return &rpcpb.RemovePeerResponse{}, a.err
}

func (a *countingAdmin) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls
}

func serveAdmin(t *testing.T, a *countingAdmin) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpcpb.RegisterClusterServiceServer(srv, a)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// closedPort is an address where nothing listens (connection refused).
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// diesBeforePreface accepts connections and closes them at once, as a node
// killed a moment ago does: no HTTP/2 preface is ever sent.
func diesBeforePreface(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// A write that may not be resent goes to the next node when the first
// ones could not even be connected to (a closed port, a server that dies
// before the preface): real gRPC errors, not typed strings, decide it.
func TestWriteRetriesWhenNeverSent(t *testing.T) {
	good := &countingAdmin{}
	c, err := New(Config{Endpoints: []string{closedPort(t), diesBeforePreface(t), serveAdmin(t, good)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.RemovePeer(ctx, "n9", false); err != nil {
		t.Fatalf("RemovePeer: %v", err)
	}
	if n := good.count(); n != 1 {
		t.Fatalf("the reachable node got %d calls, want 1", n)
	}
}

// A write that reached a node and failed there with no NO_LEADER reason
// may have been applied: it is not sent to another node.
func TestWriteNotRetriedOnceSent(t *testing.T) {
	first := &countingAdmin{err: status.Error(codes.Unavailable, "transport is closing")}
	second := &countingAdmin{}
	c, err := New(Config{Endpoints: []string{serveAdmin(t, first), serveAdmin(t, second)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.RemovePeer(ctx, "n9", false); status.Code(err) != codes.Unavailable {
		t.Fatalf("RemovePeer: %v, want the first node's Unavailable", err)
	}
	if first.count() != 1 || second.count() != 0 {
		t.Fatalf("calls: first %d, second %d; want 1 and 0", first.count(), second.count())
	}
}

// recordingNode answers the first Apply with OUTCOME_UNKNOWN (as a node
// does when the write may still commit) and the next ones with success,
// recording the request ids it saw.
type recordingNode struct {
	rpcpb.UnimplementedNamespaceServiceServer
	mu  *sync.Mutex // shared by the nodes, like ids
	ids *[]string
}

func (u *recordingNode) Apply(_ context.Context, req *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	*u.ids = append(*u.ids, req.RequestId)
	if len(*u.ids) == 1 {
		st, _ := status.New(codes.Unavailable, "outcome unknown: leadership lost while committing log").
			WithDetails(&errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: rpcpb.ReasonUncertain})
		return nil, st.Err()
	}
	return &rpcpb.ApplyResponse{Revision: 7}, nil
}

// An Apply whose outcome is unknown is sent again, to another node, with
// the same request id: the state machine applies an id once, so a first
// attempt that still commits (even late, after a delete) cannot apply the
// change a second time (regression: Jepsen bug 5).
func TestApplyResentWithTheSameRequestID(t *testing.T) {
	var eps []string
	var ids []string
	var mu sync.Mutex
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		rpcpb.RegisterNamespaceServiceServer(srv, &recordingNode{mu: &mu, ids: &ids})
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
		eps = append(eps, ln.Addr().String())
	}
	c, err := New(Config{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: "n"}})
	if err != nil || resp.Revision != 7 {
		t.Fatalf("apply: %v %v", resp, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("request ids sent: %q, want the same one twice", ids)
	}
}

// lostOnce answers its first Apply as a lost connection would (Unavailable,
// no reason: the write may have been applied) and then stops serving.
type lostOnce struct {
	rpcpb.UnimplementedNamespaceServiceServer
	stop func()
}

func (l *lostOnce) Apply(context.Context, *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
	go l.stop()
	return nil, status.Error(codes.Unavailable, "transport is closing")
}

// A write whose first attempt may have been applied ends OUTCOME_UNKNOWN,
// even when every later attempt is refused before it is sent; one that no
// server ever took ends NO_LEADER (not applied). Before, the last attempt's
// "connection refused" was returned, and read as "not applied" for a write
// that had committed (Jepsen set checker, seed 503041).
func TestWriteOutcomeAfterRetries(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpcpb.RegisterNamespaceServiceServer(srv, &lostOnce{stop: srv.Stop})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	c, err := New(Config{Endpoints: []string{ln.Addr().String(), closedPort(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err = c.Apply(ctx, &rpcpb.ApplyRequest{Spec: &fsmpb.NamespaceSpec{Name: "n"}})
	if Reason(err) != rpcpb.ReasonUncertain {
		t.Fatalf("after a lost attempt: %v, want OUTCOME_UNKNOWN", err)
	}

	c2, err := New(Config{Endpoints: []string{closedPort(t), diesBeforePreface(t)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	ctx2, cancel2 := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel2()
	_, err = c2.Delete(ctx2, &rpcpb.DeleteRequest{Name: "n"})
	if status.Code(err) != codes.Unavailable || Reason(err) != rpcpb.ReasonNoLeader {
		t.Fatalf("never sent: %v, want Unavailable NO_LEADER", err)
	}
}
