package client

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A write to a node killed a moment ago fails before its request is sent
// ("error reading server preface"): safe to send elsewhere (regression:
// Jepsen bug 1, such writes failed at once instead of failing over).
func TestWriteRetriesWhenNeverSent(t *testing.T) {
	for _, msg := range []string{
		"connection error: desc = \"transport: Error while dialing: dial tcp 10.77.0.1:7400: connect: connection refused\"",
		"connection error: desc = \"error reading server preface: read tcp 10.77.0.100:40000->10.77.0.1:7400: read: connection reset by peer\"",
	} {
		if !retryable(status.Error(codes.Unavailable, msg), write) {
			t.Errorf("write not retried after %q", msg)
		}
	}
	if retryable(status.Error(codes.Unavailable, "transport is closing"), write) {
		t.Error("a write that may have been sent must not be retried")
	}
}
