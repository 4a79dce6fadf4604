// Package cluster runs one control-plane node: hashicorp/raft on disk
// (raft-boltdb/v2 log and stable store, file snapshots, TCP transport),
// memberlist gossip for discovery, bootstrap-by-expect, the leader's loops
// (membership here; the controllers of package controller, started per
// leadership stint), forwarding writes to the leader and linearizable
// reads through a read index.
//
// It owns the adapters between the pure fsm package and raft, and the
// adapters from hclog and memberlist's logger to log/slog. It does not map
// errors to gRPC codes (package rpc does); its node-to-node calls carry
// business errors as values.
package cluster
