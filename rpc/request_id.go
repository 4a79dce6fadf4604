package rpc

import (
	"crypto/rand"
	"encoding/hex"
)

// newRequestID is a random request id (16 bytes, hex) for a write whose
// client sent none.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
