package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/prism/controlplane/internal/tlsutil"
)

// tlsConfig is the client TLS of --cacert, --cert and --key: nil when none
// is given (plaintext). The files are read now (a bad one is an
// invalid_input error naming it) and again if they change while a long
// command (watch, bench) runs. The nodes' certificates are checked
// against --cacert (the system's roots without it) and the address
// dialled.
func (g *globals) tlsConfig() (*tls.Config, error) {
	g.tlsOnce.Do(func() {
		if g.cacert == "" && g.cert == "" && g.key == "" {
			return
		}
		if (g.cert == "") != (g.key == "") {
			g.tlsErr = usageErr("--cert and --key go together (env PRISM_CERT, PRISM_KEY)")
			return
		}
		tc, err := tlsutil.APIClientConfig(tlsutil.Files{CA: g.cacert, Cert: g.cert, Key: g.key}, nil)
		if err != nil {
			g.tlsErr = &cliError{class: classInvalid, msg: fmt.Sprintf("--cacert/--cert/--key: %v", err)}
			return
		}
		g.tls = tc
	})
	return g.tls, g.tlsErr
}

// sniffAfter is how long a command without TLS flags runs before prismctl
// checks whether the nodes serve TLS (most commands are done by then, and
// cost the nodes no extra connection).
const sniffAfter = 500 * time.Millisecond

// needsTLS is the error when every endpoint that accepts a connection
// answers a TLS handshake (so a plaintext client cannot talk to it), or
// nil.
func needsTLS(ctx context.Context, endpoints []string) *cliError {
	n := 0
	for _, ep := range endpoints {
		switch speaksTLS(ctx, ep) {
		case tlsNo:
			return nil
		case tlsYes:
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return &cliError{class: classPermission, msg: "the nodes serve TLS: pass --cacert with the cluster's CA, and --cert and --key with a client certificate (env PRISM_CACERT, PRISM_CERT, PRISM_KEY)"}
}

const (
	tlsUnknown = iota // not reachable
	tlsNo
	tlsYes
)

// speaksTLS opens a TLS handshake to ep, trusting any certificate (only to
// learn whether the node answers TLS; nothing is sent after it).
func speaksTLS(ctx context.Context, ep string) int {
	d := net.Dialer{Timeout: probeTimeout}
	c, err := d.DialContext(ctx, "tcp", ep)
	if err != nil {
		return tlsUnknown
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(probeTimeout))
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	err = tc.HandshakeContext(ctx)
	var alert tls.AlertError
	if err == nil || errors.As(err, &alert) {
		return tlsYes // a handshake, or a TLS alert (a client certificate required): TLS
	}
	return tlsNo
}
