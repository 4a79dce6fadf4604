package rpcpb

import (
	"crypto/rand"
	"encoding/hex"
)

// NewRequestID is a random request id (128 bits, hex) for a write: the
// client sets one kept across its retries, and a node gives one to a write
// that came without.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
