package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// probeTimeout bounds one TCP connect of a reachability probe.
const probeTimeout = time.Second

// reachResult is what connecting to one endpoint gave (Err nil: reachable).
type reachResult struct {
	Endpoint string
	Err      error
}

// probe connects to every endpoint at once over TCP and closes again.
func probe(ctx context.Context, endpoints []string) []reachResult {
	out := make([]reachResult, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = reachResult{Endpoint: ep, Err: dial(ctx, ep)}
		}()
	}
	wg.Wait()
	return out
}

func dial(ctx context.Context, ep string) error {
	if _, _, err := net.SplitHostPort(ep); err != nil {
		return errNotHostPort
	}
	d := net.Dialer{Timeout: probeTimeout}
	c, err := d.DialContext(ctx, "tcp", ep)
	if err != nil {
		return err
	}
	return c.Close()
}

var errNotHostPort = errors.New("not host:port")

// describeDial says in a few words why a connection failed.
func describeDial(err error) string {
	var dnsErr *net.DNSError
	switch {
	case errors.Is(err, errNotHostPort):
		return err.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host"
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// definitive: the endpoint refused or cannot exist, so waiting for it
// within this command is pointless (unlike a timeout).
func definitive(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, errNotHostPort) || errors.Is(err, syscall.ECONNREFUSED) ||
		(errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

// unreachable is the error when no endpoint could be connected to, or
// nil when one could.
func unreachable(results []reachResult) *cliError {
	e := &cliError{class: classUnavailable}
	parts := make([]string, 0, len(results))
	for _, r := range results {
		if r.Err == nil {
			return nil
		}
		why := describeDial(r.Err)
		parts = append(parts, fmt.Sprintf("%s: %s", r.Endpoint, why))
		e.details = append(e.details, detail{Type: "endpoint", Endpoint: r.Endpoint, Error: why})
	}
	e.msg = fmt.Sprintf("no node reachable (tried %s)", strings.Join(parts, ", "))
	return e
}

// allDefinitive: every endpoint failed for a reason that will not change
// by waiting.
func allDefinitive(results []reachResult) bool {
	for _, r := range results {
		if r.Err == nil || !definitive(r.Err) {
			return false
		}
	}
	return len(results) > 0
}
