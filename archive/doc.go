// Package archive keeps Postgres as the durable archive of every committed
// change: the leader writes each revision once, in order, with a fenced
// cursor; a cluster that lost every node is rebuilt from it.
//
// The pieces:
//   - Journal: every node's in-memory, bounded, revision-contiguous record
//     of the changes it applied (fed by the FSM adapter).
//   - Archiver: the leader's loop that moves the journal into a Sink.
//   - Store: the Postgres Sink and reader (schema prism_archive, created
//     and upgraded by tern migrations).
//   - Rebuild: a checkpoint plus the changes after it, into a snapshot.
package archive
