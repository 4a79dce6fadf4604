package cluster

import (
	"crypto/tls"
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
// HTTP/2's client preface ("PRI * HTTP/2.0..."). With TLS the whole port
// is TLS (raftTLS): the first byte is read after the handshake, which
// only a node's certificate passes.
const grpcFirstByte = 'P'

// muxPeekTimeout bounds how long an accepted connection may stay silent
// (with TLS: take for its handshake and first byte) before it is dropped:
// raft and gRPC both speak first, at once.
const muxPeekTimeout = 2 * time.Second

// muxMaxPending bounds the accepted connections that have not sent their
// first byte yet; more are closed at once.
const muxMaxPending = 256

// raftMux accepts on the raft address and hands each connection to raft
// or to the Internal gRPC server.
type raftMux struct {
	ln     net.Listener
	log    *slog.Logger
	raftCh chan net.Conn
	grpcCh chan net.Conn

	mu      sync.Mutex
	conns   map[*peekedConn]struct{} // accepted and not yet closed; nil once closed
	pending chan struct{}            // a slot per connection not yet routed

	closeOnce sync.Once
	closed    chan struct{}
	wg        sync.WaitGroup
}

// newRaftMux listens on addr; with srvTLS every connection is TLS.
func newRaftMux(addr string, log *slog.Logger, srvTLS *tls.Config) (*raftMux, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	if srvTLS != nil {
		ln = tls.NewListener(ln, srvTLS)
	}
	return muxOn(ln, log), nil
}

// muxOn starts a mux on a listener.
func muxOn(ln net.Listener, log *slog.Logger) *raftMux {
	m := &raftMux{ln: ln, log: log, raftCh: make(chan net.Conn), grpcCh: make(chan net.Conn),
		conns: map[*peekedConn]struct{}{}, pending: make(chan struct{}, muxMaxPending), closed: make(chan struct{})}
	m.wg.Add(1)
	go m.acceptLoop()
	return m
}

// acceptLoop accepts until the mux closes. An accept error (out of file
// descriptors, say) is retried with a backoff, as raft's own transport
// does: the raft port must never stop accepting while the node runs.
func (m *raftMux) acceptLoop() {
	defer m.wg.Done()
	var backoff time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.closed:
				return
			default:
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			m.log.Warn("raft listener accept failed; retrying", "err", err, "in", backoff)
			select {
			case <-m.closed:
				return
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		select {
		case m.pending <- struct{}{}:
		default: // too many connections that have not said what they are
			_ = c.Close()
			continue
		}
		m.wg.Add(1)
		go m.route(c)
	}
}

// route reads a connection's first byte and hands it on, with that byte
// put back in front (on a TLS listener that read runs the handshake, under
// the same deadline). The connection is tracked from the start, so closing
// the mux also ends a read still waiting for that byte.
func (m *raftMux) route(c net.Conn) {
	defer m.wg.Done()
	pc := &peekedConn{Conn: c, m: m}
	m.mu.Lock()
	if m.conns == nil { // closed
		m.mu.Unlock()
		<-m.pending
		_ = c.Close()
		return
	}
	m.conns[pc] = struct{}{}
	m.mu.Unlock()
	var b [1]byte
	_ = c.SetReadDeadline(time.Now().Add(muxPeekTimeout))
	_, err := io.ReadFull(c, b[:])
	<-m.pending
	if err != nil {
		_ = pc.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	pc.first, pc.has = b[0], true
	ch := m.raftCh
	if b[0] == grpcFirstByte {
		ch = m.grpcCh
	}
	select {
	case ch <- pc:
	case <-m.closed:
		_ = pc.Close()
	}
}

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
	if c.m.conns != nil {
		delete(c.m.conns, c)
	}
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

// raftLayer is the raft transport's StreamLayer over the mux. With tls
// set it dials peers over TLS (raftTLS.client).
type raftLayer struct {
	m   *raftMux
	tls *tls.Config
}

var _ raft.StreamLayer = raftLayer{}

func (l raftLayer) Accept() (net.Conn, error) { return l.m.accept(l.m.raftCh) }
func (l raftLayer) Close() error              { l.m.close(); return nil }
func (l raftLayer) Addr() net.Addr            { return l.m.ln.Addr() }
func (l raftLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	if l.tls == nil {
		return net.DialTimeout("tcp", string(addr), timeout)
	}
	// The timeout bounds the connect and the handshake.
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), l.tls)
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
