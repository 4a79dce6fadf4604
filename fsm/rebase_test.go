package fsm

import (
	"bytes"
	"strings"
	"testing"
)

// TestRebaseSnapshotStreams: the rebased stream carries the new header and
// the same records; a stream with a second header, a truncated record or
// junk is refused.
func TestRebaseSnapshotStreams(t *testing.T) {
	h := newHarness(t)
	h.apply(put(spec("a"), nil))
	h.apply(put(spec("b"), nil))
	var buf bytes.Buffer
	if _, err := h.f.Snapshot().WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	snap := buf.Bytes()

	var out bytes.Buffer
	n, err := RebaseSnapshot(&out, bytes.NewReader(append(append([]byte(nil), snap...), "trailing"...)), 77, "other", 42, 3)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(out.Len()) {
		t.Fatalf("reported %d bytes, wrote %d", n, out.Len())
	}
	idx, rev, counts, err := SnapshotInfo(bytes.NewReader(out.Bytes()))
	if err != nil || idx != 77 || rev != 42 || counts["namespaces"] != 2 {
		t.Fatalf("rebased: index %d revision %d counts %v err %v", idx, rev, counts, err)
	}
	g := New()
	if err := g.Restore(bytes.NewReader(out.Bytes())); err != nil {
		t.Fatal(err)
	}
	if g.ClusterID() != "other" || g.Generation() != 3 {
		t.Fatalf("cluster id %q generation %d", g.ClusterID(), g.Generation())
	}

	// The header record is the first one: repeat it after the data.
	hdrLen := int(snap[1]) + 2 // one-byte length: a header is small
	twoHeaders := append(append(append([]byte(nil), snap[:len(snap)-1]...), snap[:hdrLen]...), byte(tableEnd))
	for name, bad := range map[string][]byte{
		"second header": twoHeaders,
		"truncated":     snap[:len(snap)-3],
		"junk":          []byte("\x07not a snapshot at all"),
		"empty":         nil,
	} {
		if _, err := RebaseSnapshot(&bytes.Buffer{}, bytes.NewReader(bad), 1, "c", 1, 1); err == nil {
			t.Errorf("%s: rebased without error", name)
		} else if !strings.HasPrefix(err.Error(), "fsm: ") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
