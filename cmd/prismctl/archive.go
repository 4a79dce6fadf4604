package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// archiveStatusView is `archive status -o json` (PRODUCT.md, Archive).
type archiveStatusView struct {
	ClusterID        string  `json:"cluster_id" yaml:"cluster_id"`
	ArchivedRevision int64   `json:"archived_revision" yaml:"archived_revision"`
	ClusterRevision  int64   `json:"cluster_revision" yaml:"cluster_revision"`
	LagRevisions     int64   `json:"lag_revisions" yaml:"lag_revisions"`
	LagSeconds       float64 `json:"lag_seconds" yaml:"lag_seconds"`
	Epoch            int64   `json:"epoch" yaml:"epoch"`
	LastError        string  `json:"last_error" yaml:"last_error"`
	NodeID           string  `json:"node_id" yaml:"node_id"`
	Term             uint64  `json:"term" yaml:"term"`
	LastSuccess      string  `json:"last_success,omitempty" yaml:"last_success,omitempty"`
	Checkpoints      int64   `json:"checkpoints" yaml:"checkpoints"`
}

func toArchiveStatusView(st *rpcpb.ArchiveStatusResponse) archiveStatusView {
	v := archiveStatusView{ClusterID: st.ClusterId, ArchivedRevision: st.ArchivedRevision, ClusterRevision: st.ClusterRevision,
		LagRevisions: st.LagRevisions, LagSeconds: st.LagSeconds, Epoch: st.Epoch, LastError: st.LastError,
		NodeID: st.NodeId, Term: st.Term, Checkpoints: st.Checkpoints}
	if st.LastSuccessUnixNano != 0 {
		v.LastSuccess = time.Unix(0, st.LastSuccessUnixNano).UTC().Format(time.RFC3339Nano)
	}
	return v
}

// archiveLine is the one-line summary `cluster status` prints.
func archiveLine(v archiveStatusView) string {
	line := fmt.Sprintf("archive: revision %d of %d (lag %d revisions, %.1fs), epoch %d", v.ArchivedRevision, v.ClusterRevision, v.LagRevisions, v.LagSeconds, v.Epoch)
	if v.LastError != "" {
		line += "; last error: " + v.LastError
	}
	return line
}

func archiveCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "archive", Short: "See the Postgres archive of every committed change"}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Archived revision, cluster revision, lag and last error, from the leader's archiver",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				st, err := cl.ArchiveStatus(ctx)
				if err != nil {
					return err
				}
				v := toArchiveStatusView(st)
				return g.emit(v, func(w io.Writer) {
					fmt.Fprintf(w, "cluster\t%s\narchived revision\t%d\ncluster revision\t%d\nlag\t%d revisions, %.3fs\nepoch\t%d\nleader\t%s (term %d)\ncheckpoints\t%d\nlast success\t%s\nlast error\t%s\n",
						v.ClusterID, v.ArchivedRevision, v.ClusterRevision, v.LagRevisions, v.LagSeconds, v.Epoch, v.NodeID, v.Term, v.Checkpoints, orDash(v.LastSuccess), orDash(v.LastError))
				})
			})
		},
	})
	return c
}

// historyView is one change of `history -o json`.
type historyView struct {
	Revision    int64           `json:"revision" yaml:"revision"`
	Epoch       int64           `json:"epoch" yaml:"epoch"`
	CommittedAt string          `json:"committed_at" yaml:"committed_at"`
	Command     string          `json:"command" yaml:"command"`
	Op          string          `json:"op" yaml:"op"`
	Principal   string          `json:"principal" yaml:"principal"`
	Object      json.RawMessage `json:"object,omitempty" yaml:"-"`
	Status      string          `json:"-" yaml:"status,omitempty"`
}

func historyCmd(g *globals) *cobra.Command {
	var kind, clusterID string
	var limit int
	c := &cobra.Command{
		Use:   "history NAME",
		Short: "Every archived change of a namespace (or, with --kind shard, a shard), newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if kind != "namespace" && kind != "shard" {
				return usageErr("--kind %q: want namespace or shard", kind)
			}
			if limit < 1 || limit > 10000 {
				return usageErr("--limit %d: want 1..10000", limit)
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				h, err := cl.History(ctx, &rpcpb.HistoryRequest{Name: args[0], Kind: kind, Limit: int32(limit), ClusterId: clusterID})
				if err != nil {
					return err
				}
				out := struct {
					ClusterID string        `json:"cluster_id" yaml:"cluster_id"`
					Kind      string        `json:"kind" yaml:"kind"`
					Name      string        `json:"name" yaml:"name"`
					Changes   []historyView `json:"changes" yaml:"changes"`
				}{ClusterID: h.ClusterId, Kind: kind, Name: args[0], Changes: []historyView{}}
				for _, e := range h.Entries {
					v := historyView{Revision: e.Revision, Epoch: e.Epoch, Command: e.Command, Op: e.Op, Principal: e.Principal,
						CommittedAt: time.Unix(0, e.CommittedUnixNano).UTC().Format(time.RFC3339Nano)}
					if len(e.ObjectJson) > 0 {
						v.Object = e.ObjectJson
						var o struct {
							Status string `json:"status"`
							State  string `json:"state"`
						}
						_ = json.Unmarshal(e.ObjectJson, &o)
						v.Status = o.Status + o.State
					}
					out.Changes = append(out.Changes, v)
				}
				return g.emit(out, func(w io.Writer) {
					fmt.Fprintln(w, "REVISION\tCOMMITTED\tCOMMAND\tOP\tSTATUS\tPRINCIPAL")
					for _, v := range out.Changes {
						fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", v.Revision, v.CommittedAt, v.Command, v.Op, orDash(v.Status), orDash(v.Principal))
					}
				})
			})
		},
	}
	c.Flags().StringVar(&kind, "kind", "namespace", "namespace or shard")
	c.Flags().IntVar(&limit, "limit", 100, "most changes to list (newest first), 1..10000")
	c.Flags().StringVar(&clusterID, "cluster-id", "", "read another cluster's archive in the same database (default: this cluster's)")
	return c
}
