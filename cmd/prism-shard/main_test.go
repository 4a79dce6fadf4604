package main

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// shardNode is a fake node whose ShardService.Register records the
// authorization metadata it arrived with.
type shardNode struct {
	rpcpb.UnimplementedShardServiceServer
	mu   sync.Mutex
	auth []string
}

func (n *shardNode) Register(ctx context.Context, _ *rpcpb.RegisterShardRequest) (*rpcpb.ShardResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	n.mu.Lock()
	n.auth = append(n.auth, md.Get("authorization")...)
	n.mu.Unlock()
	return &rpcpb.ShardResponse{}, nil
}

func (n *shardNode) seen() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.auth...)
}

// --token, or PRISM_TOKEN without it, is sent as a bearer token.
func TestTokenFlagAndEnv(t *testing.T) {
	for _, tc := range []struct{ flag, env, want string }{
		{"from-flag", "from-env", "Bearer from-flag"},
		{"", "from-env", "Bearer from-env"},
	} {
		t.Setenv("PRISM_TOKEN", tc.env)
		n := &shardNode{}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		rpcpb.RegisterShardServiceServer(srv, n)
		go srv.Serve(ln)

		ctx, cancel := context.WithCancel(context.Background())
		args := []string{"--id", "s1", "--control-plane", ln.Addr().String(), "--endpoint", "127.0.0.1:1",
			"--backends", "postgres", "--http-addr", "127.0.0.1:0", "--log-level", "error"}
		if tc.flag != "" {
			args = append(args, "--token", tc.flag)
		}
		done := make(chan error, 1)
		go func() { done <- run(ctx, args) }()
		deadline := time.Now().Add(10 * time.Second)
		for len(n.seen()) == 0 && time.Now().Before(deadline) {
			select {
			case err := <-done:
				t.Fatalf("run ended: %v", err)
			case <-time.After(10 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		srv.Stop()
		if got := n.seen(); len(got) == 0 || got[0] != tc.want {
			t.Errorf("flag %q env %q: authorization %q, want %q", tc.flag, tc.env, got, tc.want)
		}
	}
}
