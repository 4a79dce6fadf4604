package rpc

// Class is the kind of work a public method does: rate limits are per
// principal and per class. Every method of every service the public
// server registers has one (TestEveryMethodHasAClass enumerates them from
// the server's descriptors), so a new RPC without a row fails CI; a call
// to a method that has none is refused.
type Class string

const (
	ClassRead      Class = "read"
	ClassWrite     Class = "write"
	ClassWatch     Class = "watch"     // opening a watch stream
	ClassHeartbeat Class = "heartbeat" // shard sessions
	ClassAdmin     Class = "admin"     // cluster operations and snapshots (counted as writes)
	ClassOpen      Class = "open"      // health and reflection: never limited
)

// methodClasses is the one table from public method to class.
var methodClasses = map[string]Class{
	"/prism.v1.NamespaceService/Apply":     ClassWrite,
	"/prism.v1.NamespaceService/Delete":    ClassWrite,
	"/prism.v1.NamespaceService/Reconcile": ClassWrite,
	"/prism.v1.NamespaceService/Get":       ClassRead,
	"/prism.v1.NamespaceService/List":      ClassRead,

	"/prism.v1.ShardService/Register":  ClassWrite,
	"/prism.v1.ShardService/Drain":     ClassWrite,
	"/prism.v1.ShardService/Undrain":   ClassWrite,
	"/prism.v1.ShardService/Remove":    ClassWrite,
	"/prism.v1.ShardService/Get":       ClassRead,
	"/prism.v1.ShardService/List":      ClassRead,
	"/prism.v1.ShardService/Heartbeat": ClassHeartbeat,

	"/prism.v1.PlacementService/Assign":    ClassWrite,
	"/prism.v1.PlacementService/Rebalance": ClassWrite,
	"/prism.v1.PlacementService/Plan":      ClassRead,
	"/prism.v1.PlacementService/Explain":   ClassRead,

	"/prism.v1.WatchService/Watch":   ClassWatch,
	"/prism.v1.WatchService/Watches": ClassWatch,

	"/prism.v1.ClusterService/Status":         ClassRead,
	"/prism.v1.ClusterService/Members":        ClassRead,
	"/prism.v1.ClusterService/TransferLeader": ClassAdmin,
	"/prism.v1.ClusterService/RemovePeer":     ClassAdmin,

	"/prism.v1.SnapshotService/Save":    ClassAdmin,
	"/prism.v1.SnapshotService/Restore": ClassAdmin,

	"/prism.v1.ArchiveService/Status":  ClassRead,
	"/prism.v1.ArchiveService/History": ClassRead,

	"/grpc.health.v1.Health/Check":                                   ClassOpen,
	"/grpc.health.v1.Health/Watch":                                   ClassOpen,
	"/grpc.health.v1.Health/List":                                    ClassOpen,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      ClassOpen,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": ClassOpen,
}

// ClassOf is a public method's class; ok is false for a method not in
// the table.
func ClassOf(fullMethod string) (Class, bool) {
	c, ok := methodClasses[fullMethod]
	return c, ok
}
