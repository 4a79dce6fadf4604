package apifuzz

import (
	"fmt"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Names the seeds use, few enough that random requests collide on them:
// applies, deletes, assigns and watches meet the same namespaces and shards.
var (
	NamespaceNames = []string{"fz-a", "fz-b", "fz-c", "fz-d", "fz-e"}
	ShardIDs       = []string{"fz-s1", "fz-s2", "fz-s3"}
)

// Words are the strings the generator favours: the seed names, the node ids
// given, and the enum-like strings of the API.
func Words(nodeIDs []string) []string {
	w := append(append(append([]string(nil), NamespaceNames...), ShardIDs...), nodeIDs...)
	return append(w, "namespace", "shard", "put", "delete", "bookmark", "active", "provisioning", "deleted",
		"deleting", "degraded", "postgres", "kafka", "redis", "keyvalue", "timeseries", "strong", "eventual",
		"shared", "dedicated", "team", "user", "service", "read-only", "read-write", "127.0.0.1:1",
		"prism.v1.NamespaceService", "prism.v1.Internal", "rpc/rpcpb/api.proto", "grpc.health.v1.Health")
}

// Seeds are valid requests for the API's message types, built from valid
// namespace specs (their names replaced by NamespaceNames) and a valid
// snapshot stream (nil: none).
func Seeds(specs []*fsmpb.NamespaceSpec, snapshot []byte) map[protoreflect.FullName][]proto.Message {
	out := map[protoreflect.FullName][]proto.Message{}
	add := func(ms ...proto.Message) {
		for _, m := range ms {
			n := m.ProtoReflect().Descriptor().FullName()
			out[n] = append(out[n], m)
		}
	}
	var nsSpecs []*fsmpb.NamespaceSpec
	for i, name := range NamespaceNames {
		if len(specs) == 0 {
			break
		}
		s := proto.Clone(specs[i%len(specs)]).(*fsmpb.NamespaceSpec)
		s.Name = name
		nsSpecs = append(nsSpecs, s)
	}
	var shardSpecs []*fsmpb.ShardSpec
	for i, id := range ShardIDs {
		shardSpecs = append(shardSpecs, &fsmpb.ShardSpec{
			Id: id, Endpoints: []string{fmt.Sprintf("127.0.0.1:%d", 1+i)}, Backends: []string{"kafka", "postgres"},
			Capacity: &fsmpb.ShardCapacity{ReadRps: 100_000, WriteRps: 10_000, DataGb: 1000},
			Labels:   map[string]string{"zone": fmt.Sprintf("z%d", i)},
		})
	}
	zero := int64(0)
	ns, sh := NamespaceNames[0], ShardIDs[0]
	for i, s := range nsSpecs {
		add(&rpcpb.ApplyRequest{Spec: s, RequestId: fmt.Sprintf("fz-req-%d", i)},
			&rpcpb.ApplyRequest{Spec: s, ExpectedRevision: &zero, DryRun: true})
	}
	for _, s := range shardSpecs {
		add(&rpcpb.RegisterShardRequest{Spec: s})
	}
	add(
		&rpcpb.GetRequest{Name: ns}, &rpcpb.GetRequest{Name: ns, Consistency: rpcpb.Consistency_CONSISTENCY_STALE},
		&rpcpb.ListRequest{}, &rpcpb.ListRequest{Status: "active", ShardId: sh, IncludeDeleted: true},
		&rpcpb.DeleteRequest{Name: ns}, &rpcpb.DeleteRequest{Name: ns, ExpectedRevision: &zero},
		&rpcpb.StatusRequest{}, &rpcpb.StatusRequest{Detail: true}, &rpcpb.MembersRequest{},
		&rpcpb.TransferLeaderRequest{}, &rpcpb.TransferLeaderRequest{ToId: "n2"},
		&rpcpb.RemovePeerRequest{Id: "fz-no-such-node"}, &rpcpb.RemovePeerRequest{Id: "fz-no-such-node", Force: true, Leaving: true},
		&rpcpb.GetShardRequest{Id: sh}, &rpcpb.ListShardsRequest{}, &rpcpb.ShardIDRequest{Id: sh},
		&rpcpb.HeartbeatRequest{ShardId: sh, Session: "fz", Ready: []string{ns}},
		&rpcpb.AssignRequest{Name: ns, ShardId: sh}, &rpcpb.AssignRequest{Name: ns},
		&rpcpb.PlanRequest{}, &rpcpb.ExplainRequest{Name: ns},
		&rpcpb.RebalanceRequest{DryRun: true}, &rpcpb.RebalanceRequest{MaxMoves: 2},
		&rpcpb.WatchRequest{}, &rpcpb.WatchRequest{FromRevision: 1, Kinds: []string{"namespace"}, Names: []string{ns}, BookmarkIntervalMs: 10},
		&rpcpb.WatchRequest{ShardId: sh, Kinds: []string{"shard", "namespace"}},
		&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: 1, Request: &rpcpb.WatchRequest{}}}},
		&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Create{Create: &rpcpb.WatchCreate{WatchId: 2, Request: &rpcpb.WatchRequest{FromRevision: 1, BookmarkIntervalMs: 10}}}},
		&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Cancel{Cancel: 1}},
		&rpcpb.WatchesRequest{Op: &rpcpb.WatchesRequest_Progress{Progress: 0}},
		&rpcpb.SnapshotSaveRequest{},
		&rpcpb.ForwardHeartbeatRequest{ShardId: sh, FromNode: "n1", Ready: []string{ns}},
		&rpcpb.ForwardAdminRequest{Op: &rpcpb.ForwardAdminRequest_TransferLeader{TransferLeader: &rpcpb.TransferLeaderRequest{}}},
		&rpcpb.ForwardAdminRequest{Op: &rpcpb.ForwardAdminRequest_RemovePeer{RemovePeer: &rpcpb.RemovePeerRequest{Id: "fz-no-such-node"}}},
		&rpcpb.ReadIndexRequest{},
	)
	if snapshot != nil {
		add(&rpcpb.SnapshotChunk{Data: snapshot})
	}
	for _, c := range commands(nsSpecs, shardSpecs) {
		add(&rpcpb.ForwardApplyRequest{Command: c, FromNode: "n1"})
	}
	add(
		&healthpb.HealthCheckRequest{}, &healthpb.HealthCheckRequest{Service: "prism.v1.NamespaceService"},
		&healthpb.HealthListRequest{},
		&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}},
		&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "prism.v1.Internal"}},
		&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_FileByFilename{FileByFilename: "rpc/rpcpb/api.proto"}},
		&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_AllExtensionNumbersOfType{AllExtensionNumbersOfType: "prism.v1.ApplyRequest"}},
		//lint:ignore SA1019 the server still serves v1alpha reflection, so the fuzzer calls it
		&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_ListServices{}},
		//lint:ignore SA1019 the server still serves v1alpha reflection, so the fuzzer calls it
		&reflectionv1alpha.ServerReflectionRequest{MessageRequest: &reflectionv1alpha.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "prism.v1.NamespaceService"}},
	)
	return out
}

// commands are valid raft commands of every body type, as a client of
// Internal.ForwardApply would send them (without the leader's time).
func commands(specs []*fsmpb.NamespaceSpec, shards []*fsmpb.ShardSpec) []*fsmpb.Command {
	ns, sh := NamespaceNames[0], ShardIDs[0]
	zero := int64(0)
	cs := []*fsmpb.Command{
		{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{}}},
		{Body: &fsmpb.Command_DeleteNamespace{DeleteNamespace: &fsmpb.DeleteNamespace{Name: ns}}, RequestId: "fz-cmd-del"},
		{Body: &fsmpb.Command_SetNamespaceStatus{SetNamespaceStatus: &fsmpb.SetNamespaceStatus{Name: ns, Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE}}},
		{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: ns}}},
		{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: "fz-cluster"}}},
		{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: sh, State: fsmpb.ShardState_SHARD_STATE_DRAINING}}},
		{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: sh, State: fsmpb.ShardState_SHARD_STATE_UP}}},
		{Body: &fsmpb.Command_RemoveShard{RemoveShard: &fsmpb.RemoveShard{Id: sh}}},
		{Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{Name: ns, ShardId: sh, Pinned: true}}},
		{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: ns, To: ShardIDs[1], Phase: fsmpb.MovePhase_MOVE_PHASE_SHADOW}}},
		{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: ns, Abort: true}}},
	}
	for i, s := range specs {
		cs = append(cs, &fsmpb.Command{RequestId: fmt.Sprintf("fz-cmd-%d", i),
			Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: s}}})
	}
	if len(specs) > 0 {
		cs = append(cs, &fsmpb.Command{Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: specs[0], ExpectedRevision: &zero}}})
	}
	for _, s := range shards {
		cs = append(cs, &fsmpb.Command{Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{Spec: s}}})
	}
	return cs
}
