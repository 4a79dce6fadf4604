package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm"
)

// fromArchiveCmd is `snapshot from-archive`: it talks to Postgres, not to
// the cluster (which may be gone).
func fromArchiveCmd(g *globals) *cobra.Command {
	var url, clusterID string
	var revision int64
	c := &cobra.Command{
		Use:   "from-archive FILE --archive-url URL [--revision R] [--cluster-id ID]",
		Short: "Rebuild a snapshot file from the Postgres archive (the nearest checkpoint plus the changes after it), for snapshot restore",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if url == "" {
				return usageErr("--archive-url is required (postgres://user@host:port/db; pgx reads PGPASSFILE / PGPASSWORD)")
			}
			if revision < 0 {
				return usageErr("--revision %d: want a revision, or 0 for the archive's head", revision)
			}
			cfg := archive.DefaultStoreConfig()
			cfg.URL = url
			if err := cfg.Validate(); err != nil {
				return usageErr("--archive-url: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
			defer cancel()
			store, err := archive.Open(ctx, cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				return err
			}
			defer store.Close()
			if clusterID == "" {
				if clusterID, err = onlyCluster(ctx, store); err != nil {
					return err
				}
			}
			rc, info, err := archive.Rebuild(ctx, store, clusterID, revision)
			if err != nil {
				return err
			}
			sn, err := rc.Snapshot()
			if err != nil {
				return err
			}
			var stream bytes.Buffer
			if _, err := sn.WriteTo(&stream); err != nil {
				return err
			}
			file := fsm.SealSnapshot(stream.Bytes())
			tmp := args[0] + ".part"
			if err := os.WriteFile(tmp, file, 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, args[0]); err != nil {
				return err
			}
			if g.output == "table" {
				fmt.Fprintf(os.Stderr, "rebuilt cluster %s at revision %d (epoch %d): checkpoint of revision %d plus %d changes\n",
					info.ClusterID, info.Revision, info.Epoch, info.CheckpointRevision, info.Changes)
			}
			return printSnapshotInfo(g, args[0], file)
		},
	}
	c.Flags().StringVar(&url, "archive-url", os.Getenv("PRISM_ARCHIVE_URL"), "the archive's Postgres, without a password (env PRISM_ARCHIVE_URL)")
	c.Flags().Int64Var(&revision, "revision", 0, "the revision to rebuild (0: the archive's head)")
	c.Flags().StringVar(&clusterID, "cluster-id", "", "the cluster to rebuild (needed when the archive holds several)")
	return c
}

// onlyCluster is the id of the one cluster the archive holds.
func onlyCluster(ctx context.Context, s *archive.Store) (string, error) {
	cs, err := s.Clusters(ctx)
	if err != nil {
		return "", err
	}
	switch len(cs) {
	case 0:
		return "", fmt.Errorf("%w: the archive holds no cluster", archive.ErrNoArchive)
	case 1:
		return cs[0].ClusterID, nil
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = fmt.Sprintf("%s (revision %d)", c.ClusterID, c.Revision)
	}
	return "", usageErr("the archive holds %d clusters; pick one with --cluster-id: %s", len(cs), strings.Join(ids, ", "))
}
