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

// A write to a node killed a moment ago fails before its request is sent
// ("error reading server preface"): safe to send elsewhere (regression:
// Jepsen bug 1, such writes failed at once instead of failing over).
func TestWriteRetriesWhenNeverSent(t *testing.T) {
	for _, msg := range []string{
		"connection error: desc = \"transport: Error while dialing: dial tcp 10.77.0.1:7400: connect: connection refused\"",
		"connection error: desc = \"error reading server preface: read tcp 10.77.0.100:40000->10.77.0.1:7400: read: connection reset by peer\"",
	} {
		if !retryable(status.Error(codes.Unavailable, msg), write) {
			t.Errorf("write not retried after %q", msg)
		}
	}
	if retryable(status.Error(codes.Unavailable, "transport is closing"), write) {
		t.Error("a write that may have been sent must not be retried")
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
