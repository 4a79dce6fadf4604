// Package placement is Prism's deterministic namespace placement engine.
//
// Given the shards (capacity in read RPS, write RPS and data MB, backends,
// labels, health) and the namespaces (demand, backend, isolation, required
// labels, pins, current shard, in-flight moves), it proposes a Plan:
// assignments for new namespaces, moves off removed, draining,
// down-past-grace and over-high-watermark shards, and, on request, a
// budgeted rebalance. It also explains and classifies single namespaces.
//
// The engine is pure: no I/O, clock, randomness or goroutines. Loads are
// integers and every choice is made under a total order (ties broken by a
// rendezvous hash of namespace and shard, then by id), so the same Input in
// any slice or map order yields a byte-identical Plan. The caller (the Raft
// leader) owns time: it says whether a down shard is past its grace period
// and whether a namespace moved recently, and it drives the ADR-009 move
// phases; the engine only proposes From→To and counts an in-flight move
// against both shards.
//
// Place and Rebalance build a State (an index of per-shard load sums and
// per-backend shard lists ordered by utilization) and run on it; a State
// kept by the caller places one more namespace with PlaceOne, or repairs
// after shard loss with RemoveShards, without rebuilding. See DESIGN.md.
package placement
