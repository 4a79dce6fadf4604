package fsm

import (
	"bytes"
	"testing"
)

// FuzzDecodeCommand: decoding any bytes never panics.
func FuzzDecodeCommand(f *testing.F) {
	b, _ := EncodeCommand(put(spec("a"), i64(0)))
	f.Add(b)
	f.Add([]byte{EntryVersion})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeCommand(data)
	})
}

// FuzzRestore: a corrupt snapshot is an error, never a panic.
func FuzzRestore(f *testing.F) {
	fm := New()
	b, _ := EncodeCommand(put(spec("a"), nil))
	fm.Apply(1, b)
	var buf bytes.Buffer
	fm.Snapshot().WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = New().Restore(bytes.NewReader(data))
	})
}
