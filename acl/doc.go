// Package acl is Prism's authorization rules: who a call acts as (a
// Principal, from a client certificate or a token) and what it may do.
// It is pure (no clock, network or randomness) so the edge node and the
// FSM's apply evaluate the same rules on the same inputs: a call is
// checked where it arrives, and again when its command applies, against
// the principal stamped into the command and the state it applies to.
//
// Rules, deny by default:
//   - role admin (and the cluster's own nodes): everything;
//   - role operator: cluster, shard, placement and snapshot operations,
//     and every read;
//   - role viewer: every read;
//   - a namespace's owners (team, user or service) apply, reconcile and
//     delete it; creating one requires being among the owners it
//     declares, and an update may not leave it without owners;
//   - a namespace's consumers (services) read it, never change it;
//   - a shard registers, heartbeats and watches only as itself, and sees
//     the namespaces assigned to it.
package acl
