package cluster

import (
	"crypto/tls"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// connPool keeps one gRPC client connection per peer raft address (where
// peers serve Internal).
type connPool struct {
	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn
	token  string // the cluster's node token ("" without a gossip key)
	creds  credentials.TransportCredentials
	closed bool // close ran: no new connections
}

// newConnPool dials peers with the node token and, with tlsCfg (the
// node's raftTLS.client), over TLS.
func newConnPool(token string, tlsCfg *tls.Config) *connPool {
	creds := insecure.NewCredentials()
	if tlsCfg != nil {
		creds = credentials.NewTLS(tlsCfg)
	}
	return &connPool{conns: map[string]*grpc.ClientConn{}, token: token, creds: creds}
}

func (p *connPool) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrShutdown
	}
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(p.creds),
		// Drop a connection to a leader that stopped answering within ~15 s
		// (as rpc/client does): a forwarded write is not left in a dead
		// connection's send queue to be delivered long after.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second})}
	if p.token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(nodeToken(p.token)))
	}
	c, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

func (p *connPool) internal(addr string) (rpcpb.InternalClient, error) {
	c, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return rpcpb.NewInternalClient(c), nil
}

// retain closes the connections to addresses not in used.
func (p *connPool) retain(used map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		if !used[a] {
			_ = c.Close()
			delete(p.conns, a)
		}
	}
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
}
