package apifuzz

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"
)

// Every method of every file is found, the node-to-node and health
// services included.
func TestMethodsFromDescriptors(t *testing.T) {
	got := map[string]bool{}
	for _, m := range Methods(Files()) {
		got[m.FullMethod()] = true
	}
	for _, want := range []string{
		"/prism.v1.NamespaceService/Apply", "/prism.v1.Internal/ForwardApply", "/prism.v1.SnapshotService/Restore",
		"/prism.v1.WatchService/Watches", "/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch",
	} {
		if !got[want] {
			t.Errorf("%s missing from Methods", want)
		}
	}
}

// The same seed builds the same requests, and every request marshals.
func TestGenDeterministic(t *testing.T) {
	methods := Methods(Files())
	seeds := Seeds(nil, nil)
	run := func() []byte {
		g := NewGen(42, Words([]string{"n1"}))
		var out bytes.Buffer
		for i := 0; i < 50; i++ {
			for _, m := range methods {
				md := m.Desc.Input()
				msgs := []proto.Message{g.Random(md)}
				for _, s := range seeds[md.FullName()] {
					msgs = append(msgs, g.Mutate(s))
				}
				for _, msg := range msgs {
					b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
					if err != nil {
						t.Fatalf("%s: %v", m.FullMethod(), err)
					}
					out.Write(b)
				}
				out.Write(g.MutateBytes([]byte{1, 2, 3}))
			}
		}
		return out.Bytes()
	}
	if a, b := run(), run(); !bytes.Equal(a, b) {
		t.Fatal("two generators with one seed built different requests")
	}
}
