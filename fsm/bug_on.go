//go:build prism_bug

package fsm

// revokeKeepsToken turns on the bug the Jepsen acl self-test must catch
// (jepsen/README.md): revoke_token answers as if it had revoked the token
// but changes nothing, so the token keeps working on every node. Only a
// `-tags prism_bug` build has it (with cluster's injected read bug; the
// acl self-test runs no workload that bug shows in).
const revokeKeepsToken = true
