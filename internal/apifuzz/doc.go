// Package apifuzz drives every RPC of every gRPC service a node serves with
// random and mutated requests, from several concurrent clients, and counts
// what came back. The services and their methods come from the proto file
// descriptors (Files), never from a hand-written list, so a new RPC is
// fuzzed as soon as it is in a .proto file.
//
// Requests are built with protoreflect: Gen fills every field of a message
// with random values (oneofs, repeated fields and maps included, bounded in
// depth and size); Mutate changes a few fields of a valid seed (zeroed,
// extreme integers, very long strings, broken bytes, emptied oneofs); and
// raw mode sends mutated wire bytes that may not even decode. Every run is
// reproducible from its seed as far as each client's sequence of requests
// goes (the interleaving of the clients is the scheduler's).
//
// The package knows nothing about a cluster: the caller says where each
// service is served (Config.Target), which requests must not be sent
// (Config.Allow) and checks its own invariants after Run. The in-process
// cluster test in this package's tests is its user; `make fuzz-api` runs it
// longer.
package apifuzz
