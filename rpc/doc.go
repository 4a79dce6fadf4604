// Package rpc serves the control plane's gRPC API (NamespaceService,
// ClusterService, the node-to-node Internal service, health and
// reflection) and its HTTP listener (/healthz, /readyz, /metrics and the
// discovery endpoint GET /v1/namespaces/{name}).
//
// It is the only package that maps errors to gRPC codes: errors.go holds
// the one table. Generated protobuf code lives in rpc/rpcpb; the Go client
// with failover and leader following lives in rpc/client.
package rpc
