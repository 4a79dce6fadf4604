package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/prism/controlplane/fsm"
)

// Peer is one entry of a peers file for Recover.
type Peer struct {
	ID       string `json:"id"`
	Address  string `json:"address"` // raft address
	NonVoter bool   `json:"non_voter,omitempty"`
}

// ReadPeersFile reads a JSON list of peers: [{"id":"node1","address":"10.0.0.1:7500"}].
func ReadPeersFile(path string) ([]Peer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var peers []Peer
	if err := json.Unmarshal(b, &peers); err != nil {
		return nil, fmt.Errorf("%w: peers file %s: %v", ErrInvalidConfig, path, err)
	}
	if len(peers) == 0 {
		return nil, fmt.Errorf("%w: peers file %s lists no servers", ErrInvalidConfig, path)
	}
	seen := map[string]bool{}
	voters := 0
	for i, p := range peers {
		if p.ID == "" || p.Address == "" {
			return nil, fmt.Errorf("%w: peers file %s: entry %d needs id and address", ErrInvalidConfig, path, i)
		}
		if seen[p.ID] {
			return nil, fmt.Errorf("%w: peers file %s: id %q twice", ErrInvalidConfig, path, p.ID)
		}
		seen[p.ID] = true
		if !p.NonVoter {
			voters++
		}
	}
	if voters == 0 {
		return nil, fmt.Errorf("%w: peers file %s has no voter", ErrInvalidConfig, path)
	}
	return peers, nil
}

// Recover rewrites the raft configuration stored in dataDir to peers, for a
// cluster whose quorum is permanently lost (the peers.json procedure). The
// node must be stopped. Every surviving server listed must be recovered
// with the same peers before any of them starts again.
func Recover(dataDir, nodeID string, peers []Peer, log *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(dataDir, "raft.db")); err != nil {
		return fmt.Errorf("cluster: recover: no raft state in %s: %w", dataDir, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(dataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true},
	})
	if err != nil {
		return fmt.Errorf("cluster: recover: open raft.db (is the node still running?): %w", err)
	}
	defer store.Close()
	rlog := newHCLogger("raft", log.With("component", "raft"))
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 2, rlog)
	if err != nil {
		return fmt.Errorf("cluster: recover: snapshots: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(nodeID)
	rc.Logger = rlog
	var conf raft.Configuration
	for _, p := range peers {
		s := raft.Server{ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Address), Suffrage: raft.Voter}
		if p.NonVoter {
			s.Suffrage = raft.Nonvoter
		}
		conf.Servers = append(conf.Servers, s)
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(nodeID))
	if err := raft.RecoverCluster(rc, raftFSM{f: fsm.New()}, store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("cluster: recover: %w", err)
	}
	log.Info("raft configuration recovered", "data_dir", dataDir, "servers", len(conf.Servers))
	return nil
}
