package rpc

import (
	"context"
	"fmt"
	"sort"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// shardService implements rpcpb.ShardServiceServer.
type shardService struct {
	rpcpb.UnimplementedShardServiceServer
	node *cluster.Node
}

// apply commits a command and returns the result's business error as err.
// A command without a request id gets one here, so the node's own retries
// (forwarding after a lost connection) apply it at most once.
func apply(ctx context.Context, node *cluster.Node, cmd *fsmpb.Command) (fsm.Result, error) {
	if cmd.RequestId == "" {
		cmd.RequestId = rpcpb.NewRequestID()
	}
	stamp(ctx, cmd)
	res, err := node.Apply(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	return res, err
}

func (s *shardService) shardResponse(sh *fsmpb.Shard, rev int64, dedicated map[string]string) *rpcpb.ShardResponse {
	if sh == nil { // a repeated request whose shard is gone since
		return &rpcpb.ShardResponse{Revision: rev}
	}
	names := s.node.FSM().AssignedTo(sh.Spec.GetId())
	var read, write, data float64
	for _, name := range names {
		if ns, _, err := s.node.FSM().Get(name); err == nil {
			c := ns.Spec.GetCapacity()
			read += float64(c.GetEstimatedReadRps())
			write += float64(c.GetEstimatedWriteRps())
			data += c.GetEstimatedDataSizeGb()
		}
	}
	frac := func(used, capacity float64) float64 {
		if capacity <= 0 {
			return 0
		}
		return used / capacity
	}
	c := sh.Spec.GetCapacity()
	return &rpcpb.ShardResponse{Shard: sh, Namespaces: names, Revision: rev, DedicatedTo: dedicated[sh.Spec.GetId()], Utilization: &rpcpb.Utilization{
		Read: frac(read, float64(c.GetReadRps())), Write: frac(write, float64(c.GetWriteRps())), Data: frac(data, c.GetDataGb()),
	}}
}

func (s *shardService) Register(ctx context.Context, req *rpcpb.RegisterShardRequest) (*rpcpb.ShardResponse, error) {
	if err := checkActAsShard(ctx, req.Spec.GetId()); err != nil {
		return nil, err
	}
	if req.Spec != nil {
		sort.Strings(req.Spec.Backends) // one spelling per set
	}
	if err := fsm.CheckShardSpec(req.Spec); err != nil {
		return nil, toStatus(err)
	}
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{Spec: req.Spec}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return s.shardResponse(res.Shard, res.Revision, s.node.DedicatedShards()), nil
}

func (s *shardService) setState(ctx context.Context, req *rpcpb.ShardIDRequest, st, from fsmpb.ShardState, reason string) (*rpcpb.ShardResponse, error) {
	id := req.Id
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: id, State: st, From: from, Reason: reason}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return s.shardResponse(res.Shard, res.Revision, s.node.DedicatedShards()), nil
}

func (s *shardService) Drain(ctx context.Context, req *rpcpb.ShardIDRequest) (*rpcpb.ShardResponse, error) {
	return s.setState(ctx, req, fsmpb.ShardState_SHARD_STATE_DRAINING, 0, "drained by an operator")
}

func (s *shardService) Undrain(ctx context.Context, req *rpcpb.ShardIDRequest) (*rpcpb.ShardResponse, error) {
	// Only a draining shard is undrained: a down one comes back by its
	// heartbeats, never by an operator's word.
	return s.setState(ctx, req, fsmpb.ShardState_SHARD_STATE_UP, fsmpb.ShardState_SHARD_STATE_DRAINING, "undrained by an operator")
}

func (s *shardService) Remove(ctx context.Context, req *rpcpb.ShardIDRequest) (*rpcpb.RemoveShardResponse, error) {
	res, err := apply(ctx, s.node, &fsmpb.Command{RequestId: req.RequestId, Body: &fsmpb.Command_RemoveShard{RemoveShard: &fsmpb.RemoveShard{Id: req.Id}}})
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.RemoveShardResponse{Revision: res.Revision}, nil
}

func (s *shardService) read(ctx context.Context, c rpcpb.Consistency) error {
	if c == rpcpb.Consistency_CONSISTENCY_LINEARIZABLE {
		return s.node.LinearizableBarrier(ctx)
	}
	return nil
}

func (s *shardService) Get(ctx context.Context, req *rpcpb.GetShardRequest) (*rpcpb.ShardResponse, error) {
	if err := s.checkShardRead(ctx, req.Id); err != nil {
		return nil, err
	}
	if err := s.read(ctx, req.Consistency); err != nil {
		return nil, toStatus(err)
	}
	sh, rev, err := s.node.FSM().GetShard(req.Id)
	if err != nil {
		return nil, toStatus(err)
	}
	return s.shardResponse(sh, rev, s.node.DedicatedShards()), nil
}

func (s *shardService) List(ctx context.Context, req *rpcpb.ListShardsRequest) (*rpcpb.ListShardsResponse, error) {
	if err := s.read(ctx, req.Consistency); err != nil {
		return nil, toStatus(err)
	}
	list, rev := s.node.FSM().ListShards()
	resp := &rpcpb.ListShardsResponse{Revision: rev}
	dedicated := s.node.DedicatedShards()
	for _, sh := range list {
		resp.Shards = append(resp.Shards, s.shardResponse(sh, rev, dedicated))
	}
	return resp, nil
}

// Heartbeat renews a shard's session (see cluster.Node.Heartbeat).
func (s *shardService) Heartbeat(ctx context.Context, req *rpcpb.HeartbeatRequest) (*rpcpb.HeartbeatResponse, error) {
	if err := checkActAsShard(ctx, req.ShardId); err != nil {
		return nil, err
	}
	info, err := s.node.Heartbeat(ctx, req.ShardId, req.Ready)
	if err != nil {
		return nil, toStatus(err)
	}
	return &rpcpb.HeartbeatResponse{
		IntervalMs: info.Interval.Milliseconds(), SuspectAfterMs: info.SuspectAfter.Milliseconds(),
		DownAfterMs: info.DownAfter.Milliseconds(), LeaderId: info.LeaderID,
	}, nil
}

// checkActAsShard: the caller may act as shard id (itself, or an operator).
func checkActAsShard(ctx context.Context, id string) error {
	c := callerOf(ctx)
	if !c.enforce {
		return nil
	}
	return toStatus(acl.CheckActAsShard(c.p, id))
}

// checkShardRead: the caller may see shard id: a viewer, the shard
// itself, or one who may read a namespace it serves (resolve shows a
// consumer the endpoints of its namespace's shard).
func (s *shardService) checkShardRead(ctx context.Context, id string) error {
	c := callerOf(ctx)
	if !c.enforce || c.p.Has(acl.RoleViewer) || (c.p.Kind == acl.KindShard && c.p.Name == id) {
		return nil
	}
	for _, name := range s.node.FSM().AssignedTo(id) {
		if ns, _, err := s.node.FSM().Get(name); err == nil && acl.CanReadNamespace(c.p, ns) {
			return nil
		}
	}
	return toStatus(fmt.Errorf("%w: %s may not read shard %q: not a viewer, the shard, or a reader of a namespace it serves", acl.ErrPermissionDenied, c.p, id))
}
