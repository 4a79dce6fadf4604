package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/prism/controlplane/cluster"
)

// runRecover is `prismd recover --data-dir D --peers FILE`: it rewrites the
// raft configuration of a stopped node whose quorum is permanently lost.
func runRecover(args []string) error {
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("prismd recover", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data dir of the stopped node to recover")
	peers := fs.String("peers", "", `JSON file: [{"id":"node1","address":"127.0.0.1:7500"}, ...] (raft addresses)`)
	nodeID := fs.String("node-id", host, "this node's id")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dataDir == "" || *peers == "" || fs.NArg() > 0 {
		return errors.New("usage: prismd recover --data-dir DIR --peers FILE [--node-id ID]")
	}
	list, err := cluster.ReadPeersFile(*peers)
	if err != nil {
		return err
	}
	if err := cluster.Recover(*dataDir, *nodeID, list, newLogger(slog.LevelInfo, "text")); err != nil {
		return err
	}
	fmt.Printf("recovered %s: raft configuration is now %d server(s); start the node(s) listed in %s\n", *dataDir, len(list), *peers)
	return nil
}
