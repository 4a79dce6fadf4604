package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/internal/version"
	"github.com/prism/controlplane/rpc/client"
)

func clusterCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "cluster", Short: "See the cluster"}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Leader, term, indexes and every server, as one node sees them",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				st, err := cl.Status(ctx, true)
				if err != nil {
					return err
				}
				v := statusView{ClusterID: st.ClusterId, LeaderID: st.LeaderId, Term: st.Term, CommitIndex: st.CommitIndex,
					AppliedIndex: st.AppliedIndex, Revision: st.Revision, Nodes: []nodeView{}}
				for _, n := range st.Nodes {
					v.Nodes = append(v.Nodes, nodeView{ID: n.Id, GRPCAddr: n.GrpcAddr, HTTPAddr: n.HttpAddr, RaftAddr: n.RaftAddr,
						Suffrage: n.Suffrage, State: n.State, Healthy: n.Healthy, LastContactMs: n.LastContactMs,
						AppliedIndex: n.AppliedIndex, TrailingEntries: n.TrailingEntries})
				}
				ar := st.Archive
				if ar == nil { // answered by a follower: ask the leader's archiver, briefly
					actx, cancel := context.WithTimeout(ctx, time.Second)
					ar, _ = cl.ArchiveStatus(actx)
					cancel()
				}
				if ar != nil {
					av := toArchiveStatusView(ar)
					v.Archive = &av
				}
				return g.emit(v, func(w io.Writer) {
					if v.Archive != nil {
						defer fmt.Fprintf(w, "\n%s\n", archiveLine(*v.Archive))
					}
					fmt.Fprintf(w, "leader %s\tterm %d\tcommit %d\tapplied %d\trevision %d\t(answered by %s)\n\n", orDash(v.LeaderID), v.Term, v.CommitIndex, v.AppliedIndex, v.Revision, st.NodeId)
					fmt.Fprintln(w, "ID\tSTATE\tSUFFRAGE\tHEALTHY\tLAST CONTACT\tAPPLIED\tTRAILING\tGRPC\tHTTP\tRAFT")
					for _, n := range v.Nodes {
						contact := "-"
						if n.LastContactMs >= 0 {
							contact = fmt.Sprintf("%dms", n.LastContactMs)
						}
						fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%d\t%d\t%s\t%s\t%s\n", n.ID, n.State, n.Suffrage, n.Healthy, contact,
							n.AppliedIndex, n.TrailingEntries, orDash(n.GRPCAddr), orDash(n.HTTPAddr), n.RaftAddr)
					}
				})
			})
		},
	}, &cobra.Command{
		Use:   "members",
		Short: "Gossip members as one node sees them",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				m, err := cl.Members(ctx)
				if err != nil {
					return err
				}
				out := struct {
					Members []memberView `json:"members" yaml:"members"`
				}{Members: []memberView{}}
				for _, x := range m.Members {
					out.Members = append(out.Members, memberView{x.Id, x.Status, x.GossipAddr, x.GrpcAddr, x.HttpAddr, x.RaftAddr})
				}
				return g.emit(out, func(w io.Writer) {
					fmt.Fprintln(w, "ID\tSTATUS\tGOSSIP\tGRPC\tHTTP\tRAFT")
					for _, x := range out.Members {
						fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, x.Status, x.GossipAddr, x.GRPCAddr, x.HTTPAddr, x.RaftAddr)
					}
				})
			})
		},
	}, transferLeaderCmd(g), removePeerCmd(g))
	return c
}

func transferLeaderCmd(g *globals) *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "transfer-leader [--to ID]",
		Short: "Hand leadership to another voter (writes pause for about a round trip)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.TransferLeader(ctx, to)
				if err != nil {
					return err
				}
				out := struct {
					LeaderID string `json:"leader_id" yaml:"leader_id"`
				}{r.LeaderId}
				return g.emit(out, func(w io.Writer) { fmt.Fprintf(w, "leader is now %s\n", orDash(r.LeaderId)) })
			})
		},
	}
	c.Flags().StringVar(&to, "to", "", "id of the voter to lead (default: any caught-up voter)")
	return c
}

func removePeerCmd(g *globals) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "remove-peer ID",
		Short: "Remove a server from raft (refused when it would break quorum, unless --force)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				if err := cl.RemovePeer(ctx, args[0], force); err != nil {
					return err
				}
				out := struct {
					Removed string `json:"removed" yaml:"removed"`
				}{args[0]}
				return g.emit(out, func(w io.Writer) { fmt.Fprintf(w, "removed %s\n", args[0]) })
			})
		},
	}
	c.Flags().BoolVar(&force, "force", false, "remove even if the healthy voters left cannot form a quorum")
	return c
}

type statusView struct {
	ClusterID    string     `json:"cluster_id" yaml:"cluster_id"`
	LeaderID     string     `json:"leader_id" yaml:"leader_id"`
	Term         uint64     `json:"term" yaml:"term"`
	CommitIndex  uint64     `json:"commit_index" yaml:"commit_index"`
	AppliedIndex uint64     `json:"applied_index" yaml:"applied_index"`
	Revision     int64      `json:"revision" yaml:"revision"`
	Nodes        []nodeView `json:"nodes" yaml:"nodes"`
	// Archive is the leader's archiver's view, when the cluster archives.
	Archive *archiveStatusView `json:"archive,omitempty" yaml:"archive,omitempty"`
}

type nodeView struct {
	ID       string `json:"id" yaml:"id"`
	GRPCAddr string `json:"grpc_addr" yaml:"grpc_addr"`
	HTTPAddr string `json:"http_addr" yaml:"http_addr"`
	RaftAddr string `json:"raft_addr" yaml:"raft_addr"`
	Suffrage string `json:"suffrage" yaml:"suffrage"`
	State    string `json:"state" yaml:"state"`
	Healthy  bool   `json:"healthy" yaml:"healthy"`
	// last_contact_ms: since the server last heard from the leader (0 on
	// the leader, -1 unknown); trailing_entries: behind the answering node.
	LastContactMs   int64  `json:"last_contact_ms" yaml:"last_contact_ms"`
	AppliedIndex    uint64 `json:"applied_index" yaml:"applied_index"`
	TrailingEntries uint64 `json:"trailing_entries" yaml:"trailing_entries"`
}

type memberView struct {
	ID         string `json:"id" yaml:"id"`
	Status     string `json:"status" yaml:"status"`
	GossipAddr string `json:"gossip_addr" yaml:"gossip_addr"`
	GRPCAddr   string `json:"grpc_addr" yaml:"grpc_addr"`
	HTTPAddr   string `json:"http_addr" yaml:"http_addr"`
	RaftAddr   string `json:"raft_addr" yaml:"raft_addr"`
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func versionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Versions of prismctl and, where reachable, of each cluster node",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			out := struct {
				Client string            `json:"client" yaml:"client"`
				Nodes  map[string]string `json:"nodes" yaml:"nodes"`
			}{Client: version.Version, Nodes: map[string]string{}}
			cl, err := g.client()
			if err == nil {
				defer cl.Close()
				ctx, cancel := context.WithTimeout(context.Background(), min(g.timeout, 2e9))
				defer cancel()
				for _, ep := range strings.Split(g.endpoints, ",") {
					if st, err := cl.StatusOf(ctx, strings.TrimSpace(ep)); err == nil {
						out.Nodes[st.NodeId] = st.Version
					}
				}
			}
			return g.emit(out, func(w io.Writer) {
				fmt.Fprintf(w, "prismctl\t%s\n", out.Client)
				for id, v := range out.Nodes {
					fmt.Fprintf(w, "node %s\t%s\n", id, v)
				}
			})
		},
	}
}
