package apifuzz

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// raw is a request or response kept as wire bytes.
type raw struct{ b []byte }

// rawCodec sends raw bytes as they are, so a request need not be a valid
// message of its type (the server's decoder is under test too).
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*raw).b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	v.(*raw).b = data.Materialize()
	return nil
}

// Name is the content subtype: "proto", as a real client sends.
func (rawCodec) Name() string { return "proto" }
