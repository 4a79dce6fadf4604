package rpc_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

const restoreChunk = 256 << 10

// uploadJunk sends up to total bytes of junk in chunks on a Restore stream,
// until the node stops reading (Send reports io.EOF), and returns the
// bytes sent and the node's answer.
func uploadJunk(ctx context.Context, cc *grpc.ClientConn, total int64) (int64, error) {
	st, err := rpcpb.NewSnapshotServiceClient(cc).Restore(ctx)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, restoreChunk)
	for i := range buf {
		buf[i] = byte(rand.IntN(256))
	}
	buf[0] = 0x7f // an unknown table: never a valid snapshot
	var sent int64
	for sent < total {
		n := min(int64(len(buf)), total-sent)
		if err := st.Send(&rpcpb.SnapshotChunk{Data: buf[:n]}); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return sent, err
		}
		sent += n
	}
	_, err = st.CloseAndRecv()
	return sent, err
}

// TestRestoreRefusedByFollowerBeforeUpload: a follower answers a restore
// at once (not the leader: retry elsewhere), without reading the upload.
func TestRestoreRefusedByFollowerBeforeUpload(t *testing.T) {
	c := testcluster.Start(t, 3)
	follower := (c.Leader() + 1) % 3
	ctx := testcluster.Ctx(t, 60*time.Second)
	const offered = 256 << 20
	sent, err := uploadJunk(ctx, dial(t, c.Endpoint(follower)), offered)
	if status.Code(err) != codes.Unavailable || client.Reason(err) != rpcpb.ReasonNoLeader {
		t.Fatalf("restore on a follower: %v, want Unavailable %s", err, rpcpb.ReasonNoLeader)
	}
	if sent > 16<<20 {
		t.Fatalf("the follower read %d of %d bytes before refusing", sent, offered)
	}
}

// heapInUse is the bytes of live and not yet swept heap objects.
func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestParallelLargeRestoresBoundedMemory: four restores of 1 GiB each, at
// once, on the leader. One is spooled to disk and refused as invalid once
// complete; the other three are refused at once (one restore at a time);
// the process heap stays far below one snapshot's size throughout, and no
// spool file is left.
func TestParallelLargeRestoresBoundedMemory(t *testing.T) {
	size := rpc.DefaultConfig().MaxSnapshotBytes
	if testing.Short() {
		t.Skip("-short: uploads 1 GiB")
	}
	c := testcluster.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const bound = 256 << 20
	var peak uint64
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for ctx.Err() == nil {
			if h := heapInUse(); h > peak {
				peak = h
				if h > bound {
					cancel() // today's code: stop before it takes gigabytes
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	cc := dial(t, c.Endpoint(0))
	var wg sync.WaitGroup
	errs := make([]error, 4)
	sent := make([]int64, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent[i], errs[i] = uploadJunk(ctx, cc, size)
		}()
	}
	wg.Wait()
	cancel()
	<-sampled
	if peak > bound {
		t.Fatalf("heap reached %d MiB during the restores, bound %d MiB", peak>>20, bound>>20)
	}
	var invalid, busy int
	for i, err := range errs {
		switch status.Code(err) {
		case codes.InvalidArgument:
			invalid++
			if sent[i] != size {
				t.Errorf("the restore that ran sent %d of %d bytes", sent[i], size)
			}
		case codes.ResourceExhausted:
			busy++
		default:
			t.Errorf("restore %d: %v", i, err)
		}
	}
	if invalid != 1 || busy != 3 {
		t.Fatalf("%d refused as invalid, %d as busy; want 1 and 3: %v", invalid, busy, errs)
	}
	t.Logf("peak heap %d MiB while restoring %d MiB", peak>>20, size>>20)
	noSpools(t, c.Config(0).Cluster.DataDir)
}

func noSpools(t *testing.T, dir string) {
	t.Helper()
	left, _ := filepath.Glob(filepath.Join(dir, "restore-*"))
	if len(left) > 0 {
		t.Fatalf("spool files left: %v", left)
	}
}

// TestRestoreOverSizeLimit: a snapshot over MaxSnapshotBytes is refused
// with ResourceExhausted and its spool is removed.
func TestRestoreOverSizeLimit(t *testing.T) {
	cfg := rpc.DefaultConfig()
	cfg.MaxSnapshotBytes = 1 << 20
	node, addr, dir := startNodeWith(t, prometheus.NewRegistry(), cfg, func(*grpc.Server) {})
	testcluster.Eventually(t, 10*time.Second, func() error {
		if !node.IsLeader() {
			return errors.New("not leader yet")
		}
		return nil
	})
	ctx := testcluster.Ctx(t, 30*time.Second)
	_, err := uploadJunk(ctx, dial(t, addr), 4<<20)
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("oversized restore: %v, want ResourceExhausted", err)
	}
	noSpools(t, dir)
}
