// Package secure makes the TLS material of a --secure Jepsen run: a CA,
// node certificates for n1..nN (identity spiffe://prism/node/nI, the node's
// test address as IP SAN: clients dial 10.77.0.I and check it), a client
// certificate user/jepsen for the harness, and shard certificates
// shard/sK for the agents, all under one directory of the report, plus a
// gossip key. It only writes files and builds tls.Config values; it never
// listens or dials. The key files and the gossip key are secrets of the
// run: nothing here logs them.
package secure

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"time"

	"github.com/prism/controlplane/internal/tlsutil"
	"github.com/prism/controlplane/jepsen/netns"
)

// ClientName is the harness's client identity: user/jepsen. It has no role:
// with ACLs on, the harness acts through the admin token it bootstraps.
const ClientName = "jepsen"

// Material is the TLS material of a run.
type Material struct {
	Dir    string // <report>/tls
	CAFile string // the CA certificate (prism-ca.pem)
	// GossipKey is prismd's --gossip-key (base64 of 32 random bytes),
	// passed in the environment (PRISMD_GOSSIP_KEY) so it stays out of
	// the process list.
	GossipKey string
	// Client is the harness's client TLS (user/jepsen) for the gRPC and
	// HTTPS ports: the node's certificate is checked against the CA and
	// the address dialled.
	Client *tls.Config
	// Peer presents node n1's certificate and accepts only node
	// identities: for the garbage fault's requests on the raft port,
	// which admits node certificates only.
	Peer *tls.Config
}

// Make writes a CA and every certificate into dir (created; it must not
// hold earlier ones: files are never replaced).
func Make(dir string, nodes, shards int) (*Material, error) {
	now := time.Now()
	ca, p, err := tlsutil.NewCA(tlsutil.DefaultClusterName, 30*24*time.Hour, now)
	if err != nil {
		return nil, fmt.Errorf("secure: CA: %w", err)
	}
	caCert, caKey := tlsutil.CAPaths(dir)
	if err := tlsutil.WritePair(caCert, caKey, p); err != nil {
		return nil, fmt.Errorf("secure: CA: %w", err)
	}
	sign := func(id tlsutil.Identity, hosts ...string) error {
		p, _, err := ca.Sign(tlsutil.LeafRequest{Identity: id, Hosts: hosts, Validity: 30 * 24 * time.Hour}, now)
		if err != nil {
			return fmt.Errorf("secure: %s: %w", id.FileStem(), err)
		}
		cert, key := tlsutil.LeafPaths(dir, id)
		if err := tlsutil.WritePair(cert, key, p); err != nil {
			return fmt.Errorf("secure: %s: %w", id.FileStem(), err)
		}
		return nil
	}
	for i := 1; i <= nodes; i++ {
		if err := sign(tlsutil.Identity{Kind: tlsutil.KindNode, Name: NodeID(i)}, netns.NodeIP(i)); err != nil {
			return nil, err
		}
	}
	if err := sign(tlsutil.Identity{Kind: tlsutil.KindUser, Name: ClientName}); err != nil {
		return nil, err
	}
	for k := 1; k <= shards; k++ {
		if err := sign(tlsutil.Identity{Kind: tlsutil.KindShard, Name: ShardID(k)}); err != nil {
			return nil, err
		}
	}
	var key [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("secure: gossip key: %w", err)
	}
	m := &Material{Dir: dir, CAFile: caCert, GossipKey: base64.StdEncoding.EncodeToString(key[:])}
	if m.Client, err = tlsutil.APIClientConfig(m.files(tlsutil.KindUser, ClientName), nil); err != nil {
		return nil, fmt.Errorf("secure: client TLS: %w", err)
	}
	src, err := tlsutil.NewSource(tlsutil.SourceConfig{Files: m.files(tlsutil.KindNode, NodeID(1)), ClusterName: tlsutil.DefaultClusterName}, nil)
	if err != nil {
		return nil, fmt.Errorf("secure: peer TLS: %w", err)
	}
	m.Peer = src.ClientConfig(tlsutil.ClientOptions{Accept: []tlsutil.Kind{tlsutil.KindNode}})
	return m, nil
}

// NodeID is host i's node id (n1..), the name in its certificate.
func NodeID(i int) string { return fmt.Sprintf("n%d", i) }

// ShardID is agent k's shard id (s1..), the name in its certificate.
func ShardID(k int) string { return fmt.Sprintf("s%d", k) }

func (m *Material) files(kind tlsutil.Kind, name string) tlsutil.Files {
	cert, key := tlsutil.LeafPaths(m.Dir, tlsutil.Identity{Kind: kind, Name: name})
	return tlsutil.Files{CA: m.CAFile, Cert: cert, Key: key}
}

// NodeArgs are prismd's flags for node id: TLS on every port with its node
// certificate, and ACLs (deny by default). The gossip key goes in the
// environment (NodeEnv).
func (m *Material) NodeArgs(id string) []string {
	f := m.files(tlsutil.KindNode, id)
	return []string{"--tls-cert", f.Cert, "--tls-key", f.Key, "--tls-ca", f.CA, "--acl"}
}

// NodeEnv is the environment prismd gets besides the harness's own.
func (m *Material) NodeEnv() []string { return []string{"PRISMD_GOSSIP_KEY=" + m.GossipKey} }

// ShardArgs are prism-shard's flags for shard id: TLS with its shard
// certificate, whose identity lets it register, heartbeat and watch as
// itself (no token).
func (m *Material) ShardArgs(id string) []string {
	f := m.files(tlsutil.KindShard, id)
	return []string{"--cacert", f.CA, "--cert", f.Cert, "--key", f.Key}
}
