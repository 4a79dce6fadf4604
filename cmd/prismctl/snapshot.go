package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/rpc/client"
)

func snapshotCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Save, inspect and restore point-in-time snapshots"}
	c.AddCommand(&cobra.Command{
		Use:   "save FILE",
		Short: "Write a consistent snapshot of the cluster, with its revision and a checksum",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				stream, err := cl.SaveSnapshot(ctx)
				if err != nil {
					return err
				}
				file := fsm.SealSnapshot(stream)
				tmp := args[0] + ".part"
				if err := os.WriteFile(tmp, file, 0o600); err != nil {
					return err
				}
				if err := os.Rename(tmp, args[0]); err != nil {
					return err
				}
				return printSnapshotInfo(g, args[0], file)
			})
		},
	}, &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a snapshot file's revision, counts per table and checksum",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			file, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			return printSnapshotInfo(g, args[0], file)
		},
	}, &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the cluster's state with a snapshot, through raft (the raft membership is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			file, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			stream, _, err := fsm.OpenSnapshot(file)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.RestoreSnapshot(ctx, stream)
				if err != nil {
					return err
				}
				out := struct {
					SnapshotRevision int64 `json:"snapshot_revision" yaml:"snapshot_revision"`
					Revision         int64 `json:"revision" yaml:"revision"`
				}{r.SnapshotRevision, r.Revision}
				return g.emit(out, func(w io.Writer) {
					fmt.Fprintf(w, "restored snapshot of revision %d; cluster revision is now %d\n", r.SnapshotRevision, r.Revision)
				})
			})
		},
	}, fromArchiveCmd(g))
	return c
}

type snapshotInfo struct {
	File     string         `json:"file" yaml:"file"`
	Revision int64          `json:"revision" yaml:"revision"`
	Index    uint64         `json:"index" yaml:"index"`
	Counts   map[string]int `json:"counts" yaml:"counts"`
	SHA256   string         `json:"sha256" yaml:"sha256"`
	Bytes    int            `json:"bytes" yaml:"bytes"`
}

func printSnapshotInfo(g *globals, name string, file []byte) error {
	stream, sum, err := fsm.OpenSnapshot(file)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	idx, rev, counts, err := fsm.SnapshotInfo(bytes.NewReader(stream))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	info := snapshotInfo{File: name, Revision: rev, Index: idx, Counts: counts, SHA256: hex.EncodeToString(sum[:]), Bytes: len(file)}
	return g.emit(info, func(w io.Writer) {
		fmt.Fprintf(w, "file\t%s\nrevision\t%d\nraft index\t%d\nbytes\t%d\nsha256\t%s\n", info.File, info.Revision, info.Index, info.Bytes, info.SHA256)
		for t, n := range info.Counts {
			fmt.Fprintf(w, "%s\t%d\n", t, n)
		}
	})
}
