package cluster

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The raft port serves two protocols: raft's own and gRPC for the
// node-to-node Internal service. Both are for nodes of this cluster only,
// so Internal is exactly as exposed as raft itself, and never on the
// public API port. A connection's first byte tells them apart: raft's
// transport opens every connection with an rpc type (0..4), gRPC with
// HTTP/2's client preface ("PRI * HTTP/2.0...").
const grpcFirstByte = 'P'

// muxPeekTimeout bounds how long an accepted connection may stay silent
// before it is dropped.
const muxPeekTimeout = 10 * time.Second

// raftMux accepts on the raft address and hands each connection to raft
// or to the Internal gRPC server.
type raftMux struct {
	ln     net.Listener
	log    *slog.Logger
	raftCh chan net.Conn
	grpcCh chan net.Conn

	mu    sync.Mutex
	conns map[*peekedConn]struct{} // accepted and not yet closed

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

func newRaftMux(addr string, log *slog.Logger) (*raftMux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	m := &raftMux{ln: ln, log: log, raftCh: make(chan net.Conn), grpcCh: make(chan net.Conn),
		conns: map[*peekedConn]struct{}{}, closed: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m, nil
}

func (m *raftMux) acceptLoop() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			m.log.Warn("raft listener stopped accepting", "err", err)
			return
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

// route reads a connection's first byte and hands it on, with that byte
// put back in front.
func (m *raftMux) route(c net.Conn) {
	defer m.wg.Done()
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(muxPeekTimeout))
	if _, err := io.ReadFull(c, b[:]); err != nil {
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	ch := m.raftCh
	if b[0] == grpcFirstByte {
		ch = m.grpcCh
	}
	pc := &peekedConn{Conn: c, first: b[0], has: true, m: m}
	m.mu.Lock()
	select {
	case <-m.closed:
		m.mu.Unlock()
		_ = c.Close()
		return
	default:
	}
	m.conns[pc] = struct{}{}
	m.mu.Unlock()
	select {
	case ch <- pc:
	case <-m.closed:
		_ = pc.Close()
	}
}

// close stops accepting and closes every connection accepted: a stopped
// node leaves no peer's connection (and no goroutine reading it) open.
func (m *raftMux) close() {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		close(m.closed)
		conns := m.conns
		m.conns = nil
		m.mu.Unlock()
		_ = m.ln.Close()
		for c := range conns {
			_ = c.Conn.Close()
		}
	})
}

// wait blocks until every goroutine of the mux has returned.
func (m *raftMux) wait() { m.wg.Wait() }

func (m *raftMux) accept(ch chan net.Conn) (net.Conn, error) {
	select {
	case c := <-ch:
		return c, nil
	case <-m.closed:
		return nil, ErrListenerClosed
	}
}

// peekedConn replays the byte the mux read before the rest.
type peekedConn struct {
	net.Conn
	first byte
	has   bool
	m     *raftMux
}

func (c *peekedConn) Close() error {
	c.m.mu.Lock()
	delete(c.m.conns, c)
	c.m.mu.Unlock()
	return c.Conn.Close()
}

func (c *peekedConn) Read(p []byte) (int, error) {
	if c.has && len(p) > 0 {
		p[0] = c.first
		c.has = false
		return 1, nil
	}
	return c.Conn.Read(p)
}

// raftLayer is the raft transport's StreamLayer over the mux.
type raftLayer struct{ m *raftMux }

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) { return l.m.accept(l.m.raftCh) }
func (l raftLayer) Close() error              { l.m.close(); return nil }
func (l raftLayer) Addr() net.Addr            { return l.m.ln.Addr() }
func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}

// internalListener is the Internal gRPC server's listener over the mux.
// Closing it does not close the raft port; the node's shutdown does.
type internalListener struct {
	m      *raftMux
	once   sync.Once
	closed chan struct{}
}

func (l *internalListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.m.grpcCh:
		return c, nil
	case <-l.closed:
		return nil, ErrListenerClosed
	case <-l.m.closed:
		return nil, ErrListenerClosed
	}
}

func (l *internalListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *internalListener) Addr() net.Addr { return l.m.ln.Addr() }
