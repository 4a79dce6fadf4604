package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/backends"
	"github.com/prism/controlplane/jepsen/checker"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/jepsen/workload"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// archSettle bounds the wait, after healing, for the leader's archiver to
// catch up (after a Postgres outage it retries with a backoff of up to
// 10 s).
const archSettle = 60 * time.Second

// checkArchive runs the archive checkers after healing: it polls the
// leader's `archive status` (up to archSettle) until the archive has
// caught up (lag 0, archived revision = cluster revision), reads the
// cluster's final state at one revision (namespaces with tombstones and
// shards, linearizably), waits until the archive holds that revision,
// reads the archive straight from Postgres in one transaction (cursor,
// epochs, checkpoints, every change) and rebuilds the state at that
// revision with archive.Rebuild. What it judged is summarized in
// archive.json.
func checkArchive(ctx context.Context, c *config, env *workload.Env, ops []history.Op, logf func(string, ...any)) []checker.Result {
	start := time.Now()
	cl := env.Client(0)
	defer cl.Close()
	var snap checker.ArchiveSnapshot
	poll := func(until func(*rpcpb.ArchiveStatusResponse) bool, limit time.Duration) bool {
		t0 := time.Now()
		for {
			actx, cancel := context.WithTimeout(ctx, 3*time.Second)
			st, err := cl.ArchiveStatus(actx)
			cancel()
			if err != nil {
				snap.StatusError = "archive status: " + err.Error()
			} else {
				snap.ClusterID, snap.StatusArchived, snap.StatusCluster, snap.StatusError = st.ClusterId, st.ArchivedRevision, st.ClusterRevision, st.LastError
				if until(st) {
					return true
				}
			}
			if time.Since(t0) > limit || ctx.Err() != nil {
				return false
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	snap.CaughtUp = poll(func(st *rpcpb.ArchiveStatusResponse) bool {
		return st.ClusterRevision > 0 && st.LagRevisions == 0 && st.ArchivedRevision == st.ClusterRevision
	}, archSettle)
	caughtUp := time.Since(start)
	logf("archive checks: caught up=%v in %.1fs (archived %d, cluster %d)", snap.CaughtUp, caughtUp.Seconds(), snap.StatusArchived, snap.StatusCluster)
	if snap.ClusterID == "" {
		snap.ClusterID = clusterID(ctx, env)
	}
	fail := func(what string, err error) []checker.Result {
		sum := checker.Summarize(snap, nil)
		sum.CatchUpSec = caughtUp.Seconds()
		writeJSON(filepath.Join(c.reportDir, "archive.json"), sum)
		return []checker.Result{{Name: "archive-final", Problems: []string{what + ": " + err.Error()}}}
	}

	var err error
	snap.FinalRevision, snap.Namespaces, snap.Shards, err = finalState(ctx, env)
	if err != nil {
		return fail("the cluster's final state", err)
	}
	// The controller may still write after the catch-up (a tombstone
	// purged): the archive must reach the revision read.
	if snap.CaughtUp && !poll(func(st *rpcpb.ArchiveStatusResponse) bool { return st.ArchivedRevision >= snap.FinalRevision }, 20*time.Second) {
		snap.CaughtUp = false
	}
	rctx, rcancel := context.WithTimeout(ctx, 60*time.Second)
	defer rcancel()
	if err := readArchive(rctx, &snap); err != nil {
		return fail("reading the archive", err)
	}
	cfg := archive.DefaultStoreConfig()
	cfg.URL = backends.ArchiveURL()
	store, err := archive.Open(rctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return fail("opening the archive", err)
	}
	snap.Rebuilt, _, err = archive.Rebuild(rctx, store, snap.ClusterID, snap.FinalRevision)
	store.Close()
	if err != nil {
		snap.RebuildErr = err.Error()
	}
	results := checker.Archive(ops, snap)
	sum := checker.Summarize(snap, results)
	sum.CatchUpSec = caughtUp.Seconds()
	writeJSON(filepath.Join(c.reportDir, "archive.json"), sum)
	logf("archive checks: head %d in epoch %d, %d revisions archived, %d epochs, %d checkpoints; final revision %d (%.1fs)",
		snap.Cursor.Revision, snap.Cursor.Epoch, len(snap.Rows), len(snap.Epochs), len(snap.Checkpoints), snap.FinalRevision, time.Since(start).Seconds())
	return results
}

// finalState reads every namespace (tombstones included) and every shard
// linearizably, at one revision: the two listings are read again until
// they are of the same revision.
func finalState(ctx context.Context, env *workload.Env) (int64, map[string]*fsmpb.Namespace, map[string]*fsmpb.Shard, error) {
	c := env.Client(0)
	defer c.Close()
	var last error
	for try := 0; try < 20 && ctx.Err() == nil; try++ {
		if try > 0 {
			time.Sleep(300 * time.Millisecond)
		}
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		nl, err := c.List(actx, &rpcpb.ListRequest{IncludeDeleted: true, Consistency: lin})
		var sl *rpcpb.ListShardsResponse
		if err == nil {
			sl, err = c.ListShards(actx, lin)
		}
		cancel()
		if err != nil {
			last = err
			continue
		}
		if nl.Header.GetRevision() != sl.Revision {
			last = fmt.Errorf("the namespace listing is at revision %d, the shard listing at %d", nl.Header.GetRevision(), sl.Revision)
			continue
		}
		nss := make(map[string]*fsmpb.Namespace, len(nl.Namespaces))
		for _, ns := range nl.Namespaces {
			nss[ns.GetSpec().GetName()] = ns
		}
		shs := make(map[string]*fsmpb.Shard, len(sl.Shards))
		for _, sh := range sl.Shards {
			shs[sh.GetShard().GetSpec().GetId()] = sh.GetShard()
		}
		return sl.Revision, nss, shs, nil
	}
	if last == nil {
		last = ctx.Err()
	}
	return 0, nil, nil, last
}

// readArchive reads snap.ClusterID's archive in one repeatable-read
// transaction: the cursor, the epochs, the checkpoints (decoded) and every
// change.
func readArchive(ctx context.Context, snap *checker.ArchiveSnapshot) error {
	conn, err := pgx.Connect(ctx, backends.ArchiveURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	id := snap.ClusterID
	return pgx.BeginTxFunc(ctx, conn, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var term int64
		err := tx.QueryRow(ctx, "SELECT revision, epoch, term FROM prism_archive.cursor WHERE cluster_id = $1", id).
			Scan(&snap.Cursor.Revision, &snap.Cursor.Epoch, &term)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("the archive holds nothing of cluster %q", id)
		}
		if err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		snap.Cursor.Term = uint64(term)
		rows, err := tx.Query(ctx, `SELECT e.epoch, e.start_revision, coalesce(e.end_revision, c.revision), e.end_revision IS NULL, e.reason, e.term
FROM prism_archive.epochs e JOIN prism_archive.cursor c USING (cluster_id) WHERE e.cluster_id = $1 ORDER BY e.epoch`, id)
		if err != nil {
			return fmt.Errorf("epochs: %w", err)
		}
		snap.Epochs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (checker.ArchiveEpoch, error) {
			var e checker.ArchiveEpoch
			var term int64
			err := r.Scan(&e.Epoch, &e.Start, &e.End, &e.Open, &e.Reason, &term)
			e.Term = uint64(term)
			return e, err
		})
		if err != nil {
			return fmt.Errorf("epochs: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT revision, epoch, namespaces, shards, snapshot FROM prism_archive.checkpoints
WHERE cluster_id = $1 ORDER BY revision`, id)
		if err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
		snap.Checkpoints, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (checker.ArchiveCheckpoint, error) {
			var cp checker.ArchiveCheckpoint
			var data []byte
			if err := r.Scan(&cp.Revision, &cp.Epoch, &cp.Namespaces, &cp.Shards, &data); err != nil {
				return cp, err
			}
			rc, err := fsm.ReadRecords(bytes.NewReader(data))
			switch {
			case err != nil:
				cp.Err = err.Error()
			case rc.Revision != cp.Revision:
				cp.Err = fmt.Sprintf("holds a snapshot at revision %d", rc.Revision)
			default:
				cp.Records = rc
			}
			return cp, nil
		})
		if err != nil {
			return fmt.Errorf("checkpoints: %w", err)
		}
		rows, err = tx.Query(ctx, `SELECT revision, epoch, kind, name, op, object, payload FROM prism_archive.changes
WHERE cluster_id = $1 ORDER BY revision`, id)
		if err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		snap.Rows, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (checker.ArchiveRow, error) {
			var x checker.ArchiveRow
			err := r.Scan(&x.Revision, &x.Epoch, &x.Kind, &x.Name, &x.Op, &x.Object, &x.Payload)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("changes: %w", err)
		}
		return nil
	})
}
