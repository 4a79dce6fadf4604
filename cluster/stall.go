package cluster

import (
	"errors"
	"io"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// Disk stall detection (hashicorp/raft #503). The leader writes its log
// inside the loop that also steps down, so a write stuck in fsync would keep
// it leader (its heartbeats run elsewhere) while nothing commits. A
// watchdog notices a log write older than DiskStallThreshold, fails
// /readyz, and fences this node's outgoing raft RPCs: followers stop hearing
// heartbeats and elect a new leader within an election timeout. Once the
// write returns, the fence lifts and the node rejoins as a follower.

// errFenced is what fenced raft RPCs fail with.
var errFenced = errors.New("cluster: raft RPCs fenced: local disk stalled")

// timedLogStore records when the log write in flight started.
type timedLogStore struct {
	raft.LogStore
	inflight atomic.Int64        // unix nanos of the write in flight, 0 when idle
	inject   atomic.Int64        // test fault injection: extra delay, nanos
	sleep    func(time.Duration) // time.Sleep, replaceable
}

func newTimedLogStore(s raft.LogStore) *timedLogStore {
	return &timedLogStore{LogStore: s, sleep: time.Sleep}
}

func (s *timedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *timedLogStore) StoreLogs(logs []*raft.Log) error {
	s.inflight.Store(time.Now().UnixNano())
	defer s.inflight.Store(0)
	if d := s.inject.Swap(0); d > 0 {
		s.sleep(time.Duration(d))
	}
	return s.LogStore.StoreLogs(logs)
}

// stalledFor is how long the write in flight has been running (0 if none).
func (s *timedLogStore) stalledFor() time.Duration {
	start := s.inflight.Load()
	if start == 0 {
		return 0
	}
	return time.Since(time.Unix(0, start))
}

// fencedTransport fails outgoing raft RPCs while fenced.
type fencedTransport struct {
	*raft.NetworkTransport
	fenced atomic.Bool
}

// AppendEntriesPipeline reports pipelining unsupported: raft then
// replicates with one AppendEntries at a time. hashicorp/raft's pipeline
// can wedge: when pipelineDecode returns (a follower answered
// Success=false, or a newer term), one more send can park on the full
// in-flight queue while the decoder parks on a done channel nobody reads;
// that follower is never replicated to again (heartbeats still flow, so no
// election heals it) and the leader's Shutdown never returns.
func (t *fencedTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t *fencedTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

func (t *fencedTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.RequestVote(id, target, args, resp)
}

func (t *fencedTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.InstallSnapshot(id, target, args, resp, data)
}

func (t *fencedTransport) TimeoutNow(id raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.TimeoutNow(id, target, args, resp)
}

func (t *fencedTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if t.fenced.Load() {
		return errFenced
	}
	return t.NetworkTransport.RequestPreVote(id, target, args, resp)
}

// watchDisk runs the watchdog until shutdown.
func (n *Node) watchDisk() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.DiskStallThreshold / 4)
	defer tick.Stop()
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-tick.C:
		}
		d := n.logs.stalledFor()
		switch {
		case d > n.cfg.DiskStallThreshold && !n.diskStalled.Load():
			n.diskStalled.Store(true)
			n.transport.fenced.Store(true)
			n.log.Error("raft log write stalled: not ready, fencing raft RPCs so another server can lead", "stalled_for", d.Round(time.Millisecond), "leader", n.IsLeader())
		case d == 0 && n.diskStalled.Load():
			n.transport.fenced.Store(false)
			n.diskStalled.Store(false)
			n.log.Warn("raft log writes completing again: fence lifted")
		}
	}
}

// StallDiskForTest makes this node's next raft log write take d longer:
// fault injection for tests of the disk-stall watchdog.
func (n *Node) StallDiskForTest(d time.Duration) { n.logs.inject.Store(int64(d)) }

// DiskStalled reports whether the watchdog sees a stalled log write.
func (n *Node) DiskStalled() bool { return n.diskStalled.Load() }
