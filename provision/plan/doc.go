// Package plan derives what a namespace needs from its backends, as a pure
// function of its spec: which resources (a Postgres table, a Kafka topic),
// their physical names, their settings, and the target server they live
// on. The leader's lifecycle reconciler provisions a plan; the state
// machine and the API edge use the same code to refuse a spec a backend
// cannot serve, a password inside a namespace, a physical name that would
// change once provisioned, or a partition count that would go down.
//
// It imports only the namespace types and pure standard packages (a test
// says so): no clock, network or database.
package plan
