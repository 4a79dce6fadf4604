package archive

import (
	"bytes"
	"context"
	"flag"
	"testing"
	"time"

	"github.com/prism/controlplane/internal/testpg"
)

var rebuildNamespaces = flag.Int("archive.rebuild-namespaces", 100_000,
	"BenchmarkRebuild: namespaces in the checkpoint, and changes after it")

// BenchmarkRebuild rebuilds the head of an archive holding a checkpoint of
// -archive.rebuild-namespaces namespaces and as many changes after it
// (every namespace updated once), then writes the snapshot, as
// `snapshot from-archive` does. The target is under 10 s for 100,000.
func BenchmarkRebuild(b *testing.B) {
	n := *rebuildNamespaces
	url := testpg.Start(b).CreateDB(b)
	s := openStore(b, testStoreConfig(url))
	ctx := context.Background()
	src := newSource(b)
	start := time.Now()
	all := names("ns", n)
	for _, name := range all {
		src.apply(putNS(nsSpec(b, name, 10)))
	}
	if _, err := s.Claim(ctx, "c1", 1); err != nil {
		b.Fatal(err)
	}
	cp := src.checkpoint(true, "benchmark")
	if _, err := s.WriteCheckpoint(ctx, "c1", 1, 0, cp); err != nil {
		b.Fatal(err)
	}
	for _, name := range all {
		src.apply(putNS(nsSpec(b, name, 20)))
	}
	archive(b, s, "c1", 1, 1, src.since(cp.Revision), 1000)
	b.Logf("archived a checkpoint of %d namespaces (%d bytes) and %d changes in %v", n, len(cp.Snapshot), n, time.Since(start).Round(time.Millisecond))
	b.ResetTimer()
	var write time.Duration // of the snapshot, not the rebuild
	for range b.N {
		rc, info, err := Rebuild(ctx, s, "c1", 0)
		if err != nil {
			b.Fatal(err)
		}
		if info.Changes != n || len(rc.Namespaces) != n {
			b.Fatalf("rebuilt %+v with %d namespaces", info, len(rc.Namespaces))
		}
		t0 := time.Now()
		sn, err := rc.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if _, err := sn.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		write += time.Since(t0)
	}
	b.ReportMetric((b.Elapsed()-write).Seconds()/float64(b.N), "s/rebuild")
	b.ReportMetric(write.Seconds()/float64(b.N), "s/snapshot-write")
}
