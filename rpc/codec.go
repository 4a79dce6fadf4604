package rpc

import (
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec wrapped below
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// preEncoded is a message already in wire form: the watch service encodes
// a revision's events once and sends the same bytes to every watcher that
// gets them whole, instead of marshalling per stream.
type preEncoded []byte

// codec is the server's codec: grpc's proto codec, except that preEncoded
// frames go out as they are (mem.SliceBuffer's Free is a no-op, so one
// array may back many in-flight sends).
type codec struct{ base encoding.CodecV2 }

func newCodec() codec { return codec{base: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(preEncoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(b)}, nil
	}
	return c.base.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error { return c.base.Unmarshal(data, v) }

func (c codec) Name() string { return c.base.Name() }

// encode marshals m for a preEncoded send.
func encode(m proto.Message) (preEncoded, error) {
	b, err := proto.Marshal(m)
	return preEncoded(b), err
}
