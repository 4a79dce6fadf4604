// Package grpcconn holds what the client and the nodes' forwarding share
// about gRPC connections.
package grpcconn

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// Ready waits up to d for cc to be connected. A call sent on a ready
// connection may have reached the server; one not sent because the
// connection could not be made is safe to send elsewhere. (A stream that
// breaks before its request leaves the client is retried by grpc itself.)
// The decision rests on the connection's state, never on error text.
func Ready(ctx context.Context, cc *grpc.ClientConn, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	cc.Connect()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return true
		case connectivity.Shutdown:
			return false
		}
		if !cc.WaitForStateChange(ctx, s) {
			return false
		}
	}
}
