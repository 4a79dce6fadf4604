package fsm

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// EntryVersion is the first byte of every raft log entry this package writes.
const EntryVersion byte = 1

var marshal = proto.MarshalOptions{Deterministic: true}

// EncodeCommand renders a command as a raft log entry.
func EncodeCommand(c *fsmpb.Command) ([]byte, error) {
	buf := make([]byte, 1, 1+proto.Size(c))
	buf[0] = EntryVersion
	out, err := marshal.MarshalAppend(buf, c)
	if err != nil {
		return nil, fmt.Errorf("%w: encode: %v", ErrBadEntry, err)
	}
	return out, nil
}

// DecodeCommand parses a raft log entry written by EncodeCommand.
func DecodeCommand(b []byte) (*fsmpb.Command, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrBadEntry)
	}
	if b[0] != EntryVersion {
		return nil, fmt.Errorf("%w: entry version %d, this binary reads %d", ErrBadEntry, b[0], EntryVersion)
	}
	c := &fsmpb.Command{}
	if err := proto.Unmarshal(b[1:], c); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	return c, nil
}
