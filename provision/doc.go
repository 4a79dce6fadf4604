// Package provision creates, observes and deletes the backend resources of
// namespaces (a Postgres table, a Kafka topic) on the servers the operator
// declared to prismd. One Provisioner per backend, registered by backend
// name; the leader's lifecycle controller calls them with what plan.For
// derived from the spec.
//
// Ownership: Prism never adopts or drops what it did not create. The
// Postgres provisioner records ownership in a registry table written in the
// same transaction as the DDL; Kafka has no place for such a record, so the
// controller decides ownership from the intent it committed through raft
// before creating the topic, and tells the provisioner (Request.Owned).
package provision
