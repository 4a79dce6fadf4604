package nemesis

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/hosts"
	"github.com/prism/controlplane/jepsen/netns"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// garbage sends every running node requests no client should send, on its
// public port and on its raft port (where nodes serve Internal to each
// other): commands with no body, a revision floor at the int64 limit,
// lifecycle steps only the leader may take, oversized request ids,
// invalid specs, a stream of more watches than a stream may hold, and
// junk snapshot restores. Each must be refused with a clear code and
// change nothing: the workloads' checkers then hold as under any fault,
// and the no-crash checker fails the run if a node exited or a request was
// answered Internal or Unknown (a recovered panic is still a bug).
func (n *Nemesis) garbage(ctx context.Context) (string, error) {
	var mu sync.Mutex
	codesSeen := map[string]int{}
	var bad []string
	note := func(what string, err error) {
		c := status.Code(err)
		mu.Lock()
		defer mu.Unlock()
		codesSeen[c.String()]++
		if c == codes.Internal || c == codes.Unknown {
			if len(bad) < 10 {
				bad = append(bad, fmt.Sprintf("%s: %v", what, err))
			}
		}
	}
	var wg sync.WaitGroup
	for _, x := range n.C.Nodes {
		if running, paused := x.Running(); !running || paused {
			continue
		}
		ip := netns.NodeIP(x.I)
		wg.Add(1)
		go func() {
			defer wg.Done()
			garbageAt(ctx, x.ID, ip, n.C, note)
		}()
	}
	wg.Wait()
	keys := make([]string, 0, len(codesSeen))
	for k := range codesSeen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, codesSeen[k]))
	}
	detail := "answers " + strings.Join(parts, " ")
	if len(bad) > 0 {
		return detail, fmt.Errorf("answers that show a bug: %s", strings.Join(bad, "; "))
	}
	return detail, nil
}

// badCommands are commands a client may not send (or that no binary can
// apply): each must be refused before it reaches the log.
func badCommands() []*fsmpb.Command {
	return []*fsmpb.Command{
		nil,
		{},
		{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{RevisionFloor: math.MaxInt64}}},
		{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{
			Name: "set-1", Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE}}},
		{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: "set-1"}}},
		{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s1", State: fsmpb.ShardState_SHARD_STATE_DOWN}}},
		{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: "plc-1", To: "s1", Phase: fsmpb.MovePhase_MOVE_PHASE_CUTOVER}}},
		{RequestId: strings.Repeat("r", 4096), Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: "set-1"}}},
		{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{}}},
	}
}

// garbageAt sends one node its share; note records each answer. With
// --secure the public port's requests carry the admin token over TLS, so
// they reach the checks past authorization, and the raft port is dialled
// with a node certificate (all it admits), where Internal still wants the
// node token.
func garbageAt(ctx context.Context, id, ip string, c *hosts.Cluster, note func(string, error)) {
	dial := func(addr string) *grpc.ClientConn {
		cc, err := grpc.NewClient(addr, c.DialOptions(strings.HasSuffix(addr, ":7500"))...)
		if err != nil {
			return nil
		}
		return cc
	}
	call := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 2*time.Second) }
	if raftCC := dial(ip + ":7500"); raftCC != nil {
		ic := rpcpb.NewInternalClient(raftCC)
		for i, cmd := range badCommands() {
			cctx, cancel := call()
			resp, err := ic.ForwardApply(cctx, &rpcpb.ForwardApplyRequest{Command: cmd})
			cancel()
			if err == nil && resp.GetResult().GetError() == nil && resp.GetRefusal() == rpcpb.Refusal_REFUSAL_NONE {
				err = status.Errorf(codes.Internal, "ForwardApply of bad command %d to %s was accepted: %v", i, id, resp)
			}
			note("Internal.ForwardApply to "+id, err)
		}
		raftCC.Close()
	}
	pub := dial(ip + ":7400")
	if pub == nil {
		return
	}
	defer pub.Close()
	ns := rpcpb.NewNamespaceServiceClient(pub)
	for _, req := range []*rpcpb.ApplyRequest{
		{},
		{Spec: &fsmpb.NamespaceSpec{Name: "Not_A_Name", Backend: "?"}},
		{Spec: &fsmpb.NamespaceSpec{Name: "garbage-1"}, RequestId: strings.Repeat("x", 65)},
	} {
		cctx, cancel := call()
		_, err := ns.Apply(cctx, req)
		cancel()
		note("NamespaceService.Apply to "+id, err)
	}
	// More watches than a stream may hold, all from revision 0.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	if st, err := rpcpb.NewWatchServiceClient(pub).Watches(wctx); err == nil {
		for i := int64(1); i <= 1100; i++ {
			if st.Send(&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{
				WatchId: i, Request: &rpcpb.WatchRequest{Names: []string{"garbage-none"}}}}}) != nil {
				break
			}
		}
		_ = st.CloseSend()
		for {
			if _, err := st.Recv(); err != nil {
				if err != io.EOF && status.Code(err) != codes.DeadlineExceeded && status.Code(err) != codes.Canceled {
					note("WatchService.Watches on "+id, err)
				}
				break
			}
		}
	}
	wcancel()
	// A junk snapshot: refused by a follower before the upload, by the
	// leader as invalid.
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	if st, err := rpcpb.NewSnapshotServiceClient(pub).Restore(rctx); err == nil {
		junk := []byte(strings.Repeat("not a snapshot ", 8192))
		_ = st.Send(&rpcpb.SnapshotChunk{Data: junk})
		_, err = st.CloseAndRecv()
		if err == nil {
			err = status.Errorf(codes.Internal, "a junk snapshot restore on %s succeeded", id)
		}
		note("SnapshotService.Restore on "+id, err)
	}
	rcancel()
}
