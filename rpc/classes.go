package rpc

import "github.com/prism/controlplane/acl"

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

// method is what the one table says of a public method: its class (for
// rate limits) and its ACL rule (with --acl on; RuleObject methods check
// the object they name in the handler). A method not in the table is
// refused.
type method struct {
	class Class
	rule  acl.Rule
}

// methods is the one table of public methods.
var methods = map[string]method{
	"/prism.v1.NamespaceService/Apply":     {ClassWrite, acl.RuleObject},
	"/prism.v1.NamespaceService/Delete":    {ClassWrite, acl.RuleObject},
	"/prism.v1.NamespaceService/Reconcile": {ClassWrite, acl.RuleObject},
	"/prism.v1.NamespaceService/Get":       {ClassRead, acl.RuleObject},
	"/prism.v1.NamespaceService/List":      {ClassRead, acl.RuleObject},

	"/prism.v1.ShardService/Register":  {ClassWrite, acl.RuleObject},
	"/prism.v1.ShardService/Drain":     {ClassWrite, acl.RuleOperator},
	"/prism.v1.ShardService/Undrain":   {ClassWrite, acl.RuleOperator},
	"/prism.v1.ShardService/Remove":    {ClassWrite, acl.RuleOperator},
	"/prism.v1.ShardService/Get":       {ClassRead, acl.RuleObject},
	"/prism.v1.ShardService/List":      {ClassRead, acl.RuleViewer},
	"/prism.v1.ShardService/Heartbeat": {ClassHeartbeat, acl.RuleObject},

	"/prism.v1.PlacementService/Assign":    {ClassWrite, acl.RuleOperator},
	"/prism.v1.PlacementService/Rebalance": {ClassWrite, acl.RuleOperator},
	"/prism.v1.PlacementService/Plan":      {ClassRead, acl.RuleViewer},
	"/prism.v1.PlacementService/Explain":   {ClassRead, acl.RuleViewer},

	"/prism.v1.WatchService/Watch":   {ClassWatch, acl.RuleObject},
	"/prism.v1.WatchService/Watches": {ClassWatch, acl.RuleObject},

	"/prism.v1.ClusterService/Status":         {ClassRead, acl.RuleViewer},
	"/prism.v1.ClusterService/Members":        {ClassRead, acl.RuleViewer},
	"/prism.v1.ClusterService/TransferLeader": {ClassAdmin, acl.RuleOperator},
	"/prism.v1.ClusterService/RemovePeer":     {ClassAdmin, acl.RuleOperator},

	"/prism.v1.SnapshotService/Save":    {ClassAdmin, acl.RuleOperator},
	"/prism.v1.SnapshotService/Restore": {ClassAdmin, acl.RuleAdmin},

	"/prism.v1.ArchiveService/Status":  {ClassRead, acl.RuleViewer},
	"/prism.v1.ArchiveService/History": {ClassRead, acl.RuleViewer},

	"/prism.v1.AclService/Bootstrap":   {ClassWrite, acl.RuleBootstrap},
	"/prism.v1.AclService/CreateToken": {ClassWrite, acl.RuleAdmin},
	"/prism.v1.AclService/RevokeToken": {ClassWrite, acl.RuleAdmin},
	"/prism.v1.AclService/ListTokens":  {ClassRead, acl.RuleAdmin},
	"/prism.v1.AclService/WhoAmI":      {ClassRead, acl.RuleObject},

	"/grpc.health.v1.Health/Check":                                   {ClassOpen, acl.RuleOpen},
	"/grpc.health.v1.Health/Watch":                                   {ClassOpen, acl.RuleOpen},
	"/grpc.health.v1.Health/List":                                    {ClassOpen, acl.RuleOpen},
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {ClassOpen, acl.RuleOpen},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {ClassOpen, acl.RuleOpen},
}

// ClassOf is a public method's class; ok is false for a method not in
// the table.
func ClassOf(fullMethod string) (Class, bool) {
	m, ok := methods[fullMethod]
	return m.class, ok
}

// RuleOf is a public method's ACL rule; ok is false for a method not in
// the table (denied with ACLs on).
func RuleOf(fullMethod string) (acl.Rule, bool) {
	m, ok := methods[fullMethod]
	return m.rule, ok
}
