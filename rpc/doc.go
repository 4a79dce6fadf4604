// Package rpc serves the control plane's gRPC API (NamespaceService,
// ClusterService, ShardService, PlacementService, WatchService,
// SnapshotService, the node-to-node Internal service, health and
// reflection) and its HTTP listener (/healthz, /readyz, /metrics and the
// discovery endpoint GET /v1/namespaces/{name}).
//
// It is the only package that maps errors to gRPC codes: errors.go holds
// the one table. Config bounds what clients can make a node hold (streams
// per connection, request size, watches per stream, listings at once,
// snapshot size); a handler panic answers Internal (recovery.go); gRPC
// health follows the node's readiness, and Drain ends watch streams with
// "node stopping" before a graceful stop (server.go, health.go). Generated protobuf code lives in rpc/rpcpb; the Go client
// with failover and leader following lives in rpc/client.
//
// WatchService has two forms. Watch is one stream per watch (simple, for
// grpcurl and old clients). Watches carries many watches over one stream,
// as etcd does, and is what rpc/client uses: a revision goes out as one
// message per stream naming the watches it is for, its events encoded once
// for every stream (codec.go sends those bytes as they are). With one
// stream per watch, 10,000 watchers meant 10,000 messages per revision and
// p99 delivery of seconds; multiplexed, one message per connection.
package rpc
