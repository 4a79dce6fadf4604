package fsm

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// benchEntries encodes n updates of a ~512-byte spec spread over keys names.
func benchEntries(b *testing.B, n, keys int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		s := spec(fmt.Sprintf("bench-%05d", i%keys))
		s.BackendConfigJson, _ = ConfigJSON(map[string]any{"postgres": map[string]any{"table_name": "t", "comment": strings.Repeat("x", 400) + fmt.Sprint(i)}})
		data, err := EncodeCommand(&fsmpb.Command{UnixNano: int64(i), Body: &fsmpb.Command_ApplyNamespace{ApplyNamespace: &fsmpb.ApplyNamespace{Spec: s}}})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = data
	}
	return out
}

// BenchmarkApplyUpdate: one namespace update through decode, validation and apply.
func BenchmarkApplyUpdate(b *testing.B) {
	entries := benchEntries(b, 4096, 1000)
	f := New()
	b.ReportAllocs()
	b.SetBytes(int64(len(entries[0])))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f.Apply(uint64(i+1), entries[i%len(entries)])
	}
}

// BenchmarkSnapshot: writing a snapshot of 10,000 namespaces.
func BenchmarkSnapshot(b *testing.B) {
	entries := benchEntries(b, 10000, 10000)
	f := New()
	for i, e := range entries {
		f.Apply(uint64(i+1), e)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var sink countingWriter
		if _, err := f.Snapshot().WriteTo(&sink); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(sink))
	}
}

type countingWriter int

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}
