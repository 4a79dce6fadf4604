package rpc

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func fromAddr(ip string) context.Context {
	return peer.NewContext(context.Background(), &peer.Peer{Addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 5000}})
}

// A client that floods is refused, with a retry delay, while another
// client and the other classes of the same client are still served.
func TestRateLimitIsPerPrincipalAndClass(t *testing.T) {
	cfg := DefaultRateLimits()
	cfg.Write, cfg.GlobalWrite = 10, 0
	l := newLimiters(cfg, nil)
	flood, other := fromAddr("10.0.0.1"), fromAddr("10.0.0.2")
	apply := "/prism.v1.NamespaceService/Apply"
	refused := 0
	var last error
	for i := 0; i < 100; i++ {
		if err := l.check(flood, apply); err != nil {
			refused++
			last = err
		}
	}
	if refused < 70 {
		t.Fatalf("%d of 100 writes refused at 10/s (burst 20)", refused)
	}
	st := status.Convert(last)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("refusal: %v", last)
	}
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.RetryDelay.AsDuration()
		}
	}
	if delay <= 0 || delay > time.Second {
		t.Fatalf("retry delay %v", delay)
	}
	if err := l.check(other, apply); err != nil {
		t.Fatalf("another client was limited: %v", err)
	}
	if err := l.check(flood, "/prism.v1.NamespaceService/Get"); err != nil {
		t.Fatalf("the flooding client's reads were limited: %v", err)
	}
	if err := l.check(flood, "/grpc.health.v1.Health/Check"); err != nil {
		t.Fatalf("health was limited: %v", err)
	}
}

func TestGlobalWriteLimitAndBoundedPrincipals(t *testing.T) {
	cfg := DefaultRateLimits()
	cfg.GlobalWrite, cfg.MaxPrincipals = 5, 3
	l := newLimiters(cfg, nil)
	refused := 0
	for i := 0; i < 50; i++ {
		if l.check(fromAddr("10.0.1."+string(rune('0'+i%10))), "/prism.v1.ShardService/Register") != nil {
			refused++
		}
	}
	if refused < 30 {
		t.Fatalf("%d of 50 writes from 10 clients refused at a global 5/s", refused)
	}
	if n := l.lru.Len(); n > 3 {
		t.Fatalf("%d limiters kept, at most 3", n)
	}
}
