//go:build prism_bug

package cluster

// injectedBug turns on the bug the Jepsen self-test must catch (jepsen/README.md):
// a follower answers a linearizable read from its local state, skipping the
// read index. Only a `-tags prism_bug` build has it.
const injectedBug = true
