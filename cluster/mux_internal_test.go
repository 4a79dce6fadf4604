package cluster

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// failingOnce fails its first Accept with a non-timeout error (as EMFILE
// does) and then accepts normally.
type failingOnce struct {
	net.Listener
	failed atomic.Bool
}

func (l *failingOnce) Accept() (net.Conn, error) {
	if l.failed.CompareAndSwap(false, true) {
		return nil, errors.New("accept: too many open files")
	}
	return l.Listener.Accept()
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// The raft port keeps accepting after an accept error; before, one error
// stopped it for good (no raft, no Internal until a restart).
func TestMuxSurvivesAcceptErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := muxOn(&failingOnce{Listener: ln}, quietLog())
	defer func() { m.close(); m.wait() }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte{1}); err != nil { // a raft rpc type
		t.Fatal(err)
	}
	select {
	case got := <-m.raftCh:
		b := make([]byte, 1)
		if _, err := io.ReadFull(got, b); err != nil || b[0] != 1 {
			t.Fatalf("routed connection read %v %v, want the first byte back", b, err)
		}
		got.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a connection after an accept error was never routed")
	}
}

// A connection that never speaks does not hold up the node's shutdown.
func TestMuxCloseEndsSilentConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := muxOn(ln, quietLog())
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Wait until the mux tracks it (accepted, waiting for its first byte).
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		n := len(m.conns)
		m.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the connection was never accepted")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { m.close(); m.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(muxPeekTimeout / 2):
		t.Fatal("close waited for a silent connection's first byte")
	}
}
