package cluster_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// A node cut off from its leader ends its watch streams with NO_LEADER
// (Unavailable: the client resumes on another node) instead of serving a
// watch that receives nothing while the cluster moves on and compacts the
// history the watcher will need.
func TestWatchEndsWhenTheNodeKnowsNoLeader(t *testing.T) {
	c := testcluster.Start(t, 3)
	f := c.Follower()
	cc, err := grpc.NewClient(c.Endpoint(f), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx := testcluster.Ctx(t, 60*time.Second)
	st, err := rpcpb.NewWatchServiceClient(cc).Watch(ctx, &rpcpb.WatchRequest{FromRevision: 0, BookmarkIntervalMs: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil { // the listing's bookmark: the watch is live
		t.Fatal(err)
	}
	for i := range c.Servers {
		if i != f {
			c.Stop(i, false)
		}
	}
	for {
		_, err := st.Recv()
		if err == nil {
			continue // bookmarks while the node still believes in a leader
		}
		if status.Code(err) != codes.Unavailable || client.Reason(err) != rpcpb.ReasonNoLeader {
			t.Fatalf("watch ended with %v, want Unavailable NO_LEADER", err)
		}
		return
	}
}
