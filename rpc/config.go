package rpc

import (
	"errors"
	"fmt"
)

// Config bounds what clients of the public gRPC port can make one node
// hold at once. Every limit answers a clear error when hit
// (ResourceExhausted), never a crash or an unbounded queue.
type Config struct {
	// MaxConcurrentStreams bounds the calls and streams open at once on one
	// client connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client
	// over it waits for a slot (grpc-go queues the call) instead of making
	// the node start another handler. 256: above RFC 9113's recommended
	// minimum of 100 and close to Go's net/http2 default (250); rpc/client
	// puts every watch of a connection on one stream, and a follower
	// forwards all its writes to the leader over one connection, so a
	// connection legitimately carries many calls at once.
	MaxConcurrentStreams uint32
	// MaxWatchesPerStream bounds the watches created and not ended on one
	// Watches stream; a create over it ends that watch alone with
	// ResourceExhausted. 1,000 is far above what one process needs (a
	// shard agent uses one) and bounds the filters and listings one stream
	// holds.
	MaxWatchesPerStream int
	// MaxRecvMsgBytes bounds one request message, in bytes. A namespace
	// spec is a few KiB and a snapshot chunk 256 KiB: 1 MiB leaves room
	// for both. At least 512 KiB, at most 64 MiB.
	MaxRecvMsgBytes int
	// MaxConcurrentListings bounds the watches from revision 0 this node
	// lists at once: each copies and sorts the whole state. A listing
	// waits for a slot (a burst of watchers starting together is normal),
	// but at most listingQueuePerSlot per slot wait and none longer than
	// the listing timeout; beyond that it ends with ResourceExhausted.
	MaxConcurrentListings int
	// MaxSnapshotBytes bounds a snapshot sent to Restore. It is spooled to
	// a file in the data dir, never held in memory, so this bounds disk
	// use; one restore runs at a time per node.
	MaxSnapshotBytes int64
	// RateLimits bound each client's calls per second, per class.
	RateLimits RateLimits
	// ACL: deny by default (prismd --acl). Every call needs an identity (a
	// token or a client certificate) that the method's rule and the
	// object's owners, consumers or shard allow. Off: calls are still
	// attributed (the principal is stamped into commands), never refused.
	ACL bool
}

// listingQueuePerSlot is how many listings may wait per listing slot.
const listingQueuePerSlot = 32

// DefaultConfig is the limits prismd starts with (see each field).
// maxRecvMsgBytesLimit is the largest MaxRecvMsgBytes allowed.
const maxRecvMsgBytesLimit = 64 << 20

func DefaultConfig() Config {
	return Config{
		MaxConcurrentStreams:  256,
		MaxWatchesPerStream:   1000,
		MaxRecvMsgBytes:       1 << 20,
		MaxConcurrentListings: 8,
		MaxSnapshotBytes:      1 << 30,
		RateLimits:            DefaultRateLimits(),
	}
}

// Validate lists every problem with the config.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...))
	}
	if c.MaxConcurrentStreams < 1 {
		bad("max concurrent streams must be at least 1")
	}
	if c.MaxWatchesPerStream < 1 {
		bad("max watches per stream %d must be at least 1", c.MaxWatchesPerStream)
	}
	if c.MaxRecvMsgBytes < 512<<10 || c.MaxRecvMsgBytes > maxRecvMsgBytesLimit {
		bad("max request message size %d not in 512 KiB..64 MiB", c.MaxRecvMsgBytes)
	}
	if c.MaxConcurrentListings < 1 {
		bad("max concurrent listings %d must be at least 1", c.MaxConcurrentListings)
	}
	if c.MaxSnapshotBytes < 1<<20 {
		bad("max snapshot size %d is below 1 MiB", c.MaxSnapshotBytes)
	}
	for _, p := range c.RateLimits.validate() {
		bad("%s", p)
	}
	return errors.Join(errs...)
}
