package cluster

import (
	"crypto/tls"
	"fmt"

	"github.com/prism/controlplane/internal/tlsutil"
)

// raftTLS is the raft port's TLS when the node has certificates. The port
// carries raft and Internal, both for this cluster's nodes only: the
// listener requires a client certificate that chains to the cluster's CA
// and names a node of this cluster (spiffe://<cluster>/node/<id>), so a
// shard's, service's or user's certificate from the same CA fails the
// handshake and never reaches raft or Internal. Dialling a peer, a node
// presents its own certificate and accepts only a node's in return; it
// dials by address and checks the identity, not the host name.
type raftTLS struct {
	server *tls.Config
	client *tls.Config
}

func newRaftTLS(src *tlsutil.Source) *raftTLS {
	if src == nil {
		return nil
	}
	nodes := []tlsutil.Kind{tlsutil.KindNode}
	return &raftTLS{
		server: src.ServerConfig(tlsutil.ServerOptions{
			ClientAuth: tls.RequireAndVerifyClientCert, Accept: nodes,
			// Internal's gRPC clients require ALPN h2; raft's offer none.
			NextProtos: []string{"h2"},
		}),
		client: src.ClientConfig(tlsutil.ClientOptions{Accept: nodes}),
	}
}

// checkTLS: TLS needs the gossip key (gossip carries the addresses nodes
// dial, and would otherwise be the open door), and the node's certificate
// must name this node of this cluster.
func checkTLS(cfg Config, src *tlsutil.Source) error {
	if src == nil {
		return nil
	}
	if len(cfg.GossipKey) == 0 {
		return fmt.Errorf("%w: TLS requires a gossip key: gossip is encrypted whenever TLS is on", ErrInvalidConfig)
	}
	want := tlsutil.Identity{Cluster: cfg.ClusterName, Kind: tlsutil.KindNode, Name: cfg.NodeID}
	if got := src.Identity(); got != want {
		return fmt.Errorf("%w: the TLS certificate names %q; node %q of cluster %q needs one for %s", ErrInvalidConfig, got, cfg.NodeID, cfg.ClusterName, want)
	}
	return nil
}

// serverConfig and clientConfig are nil without TLS.
func (t *raftTLS) serverConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.server
}

func (t *raftTLS) clientConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.client
}
