package cluster

import (
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// connPool keeps one gRPC client connection per peer address.
type connPool struct {
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func newConnPool() *connPool { return &connPool{conns: map[string]*grpc.ClientConn{}} }

func (p *connPool) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Drop a connection to a leader that stopped answering within ~15 s
		// (as rpc/client does): a forwarded write is not left in a dead
		// connection's send queue to be delivered long after.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}))
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

func (p *connPool) cluster(addr string) (rpcpb.ClusterServiceClient, error) {
	c, err := p.conn(addr)
	if err != nil {
		return nil, err
	}
	return rpcpb.NewClusterServiceClient(c), nil
}

func (p *connPool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
}
