package cluster_test

import (
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/internal/testcluster"
)

func TestTransferLeader(t *testing.T) {
	c := testcluster.Start(t, 3)
	old := c.Leader()
	target := c.Follower()
	cl := c.Client(c.Follower(target)) // asked through the other follower
	r, err := cl.TransferLeader(testcluster.Ctx(t, 10*time.Second), c.Servers[target].Node.ID())
	if err != nil {
		t.Fatal(err)
	}
	if r.LeaderId != c.Servers[target].Node.ID() {
		t.Fatalf("leader %q, want %q", r.LeaderId, c.Servers[target].Node.ID())
	}
	if l := c.WaitLeader(5 * time.Second); l != target || l == old {
		t.Fatalf("leader is node %d, want %d", l+1, target+1)
	}
	_, err = cl.TransferLeader(testcluster.Ctx(t, 5*time.Second), "nope")
	if status.Code(err) != codes.NotFound {
		t.Fatalf("transfer to an unknown server: %v", err)
	}
}

func TestRemovePeerGuardsQuorum(t *testing.T) {
	c := testcluster.Start(t, 3)
	down := c.Follower()
	c.Stop(down, false)
	live := c.Follower()
	cl := c.Client()
	downID := "n" + string(rune('1'+down))
	testcluster.Eventually(t, 10*time.Second, func() error {
		for _, s := range c.Servers[c.Leader()].Node.Status().Servers {
			if s.ID == downID && s.Healthy {
				return fmt.Errorf("%s still looks healthy", downID)
			}
		}
		return nil
	})
	ctx := testcluster.Ctx(t, 10*time.Second)
	// Removing the live follower is refused: it is running (and would leave
	// 2 voters with 1 healthy).
	err := cl.RemovePeer(ctx, c.Servers[live].Node.ID(), false)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("removal of a running server: %v", err)
	}
	// Removing the dead one leaves 2 healthy voters: allowed.
	if err := cl.RemovePeer(ctx, downID, false); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Servers[c.Leader()].Node.Status().Servers); n != 2 {
		t.Fatalf("%d servers after removal", n)
	}
	if err := cl.RemovePeer(ctx, "absent", false); status.Code(err) != codes.NotFound {
		t.Fatalf("removing an absent server: %v", err)
	}
}

func TestLeaveRemovesTheNode(t *testing.T) {
	c := testcluster.Start(t, 3)
	l := c.Leader()
	if err := c.Servers[l].Node.Leave(testcluster.Ctx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	gone := c.Servers[l].Node.ID()
	c.Stop(l, true)
	nl := c.WaitLeader(10 * time.Second)
	for _, s := range c.Servers[nl].Node.Status().Servers {
		if s.ID == gone {
			t.Fatalf("%s still in raft after leaving", gone)
		}
	}
	mustApply(t, c.Client(), spec("after-leave", 1))
}
