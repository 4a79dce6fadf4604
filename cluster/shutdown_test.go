package cluster_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
)

// Stopping a leader in the middle of many writes returns promptly
// (regression: a write queued in raft's batching apply channel when raft
// shut down was never answered, and Shutdown waited for it forever).
func TestShutdownUnderWriteLoad(t *testing.T) {
	for round := 0; round < 3; round++ {
		c := testcluster.Start(t, 3)
		l := c.WaitLeader(10 * time.Second)
		node := c.Servers[l].Node
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := 0; w < 64; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					cmd := &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{
						Spec: spec(fmt.Sprintf("w%d", w), int64(i))}}}
					actx, acancel := context.WithTimeout(ctx, 30*time.Second)
					_, _ = node.Apply(actx, cmd)
					acancel()
				}
			}(w)
		}
		time.Sleep(300 * time.Millisecond)
		stopped := make(chan struct{})
		go func() {
			c.Stop(l, false)
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: stopping the leader under load did not return within 20s", round)
		}
		cancel()
		wg.Wait()
		c.StopAll()
	}
}
