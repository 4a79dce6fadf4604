package cluster

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"google.golang.org/grpc/metadata"
)

// InternalTokenHeader carries the cluster's node token on every Internal
// call when the cluster has a gossip key.
const InternalTokenHeader = "prism-node-token"

// internalToken is the secret every node of a cluster with a gossip key
// presents on Internal calls: an HMAC of the cluster name under the gossip
// key, so only holders of the key (the cluster's nodes) can compute it. It
// is never logged. Without a gossip key there is none, and the raft port's
// reachability is the boundary (as it is for raft itself); with TLS (which
// needs the key) the port's handshake admits only node certificates, and
// the token is a second check.
func internalToken(key []byte, clusterName string) string {
	if len(key) == 0 {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("prism internal v1/" + clusterName))
	return hex.EncodeToString(m.Sum(nil))
}

// nodeToken implements credentials.PerRPCCredentials for Internal calls.
type nodeToken string

func (t nodeToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{InternalTokenHeader: string(t)}, nil
}

func (nodeToken) RequireTransportSecurity() bool { return false }

// AuthorizeInternal checks that an incoming Internal call comes from a
// node of this cluster: it carries the cluster's token when there is one.
// It fails with ErrUnauthenticated.
func (n *Node) AuthorizeInternal(ctx context.Context) error {
	want := n.token
	if want == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get(InternalTokenHeader)
	if len(got) != 1 || !hmac.Equal([]byte(got[0]), []byte(want)) {
		return fmt.Errorf("%w: Internal is served to nodes of this cluster only", ErrUnauthenticated)
	}
	return nil
}
