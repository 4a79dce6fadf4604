package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/internal/shardagent"
	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// shardView is the JSON shape of a shard (PRODUCT.md).
type shardView struct {
	ID          string             `json:"id" yaml:"id"`
	Endpoints   []string           `json:"endpoints" yaml:"endpoints"`
	Backends    []string           `json:"backends" yaml:"backends"`
	Capacity    map[string]float64 `json:"capacity" yaml:"capacity"`
	Labels      map[string]string  `json:"labels" yaml:"labels"`
	State       string             `json:"state" yaml:"state"`
	DedicatedTo string             `json:"dedicated_to" yaml:"dedicated_to"`
	Namespaces  []string           `json:"namespaces" yaml:"namespaces"`
	Utilization map[string]float64 `json:"utilization" yaml:"utilization"`
	Revision    int64              `json:"revision" yaml:"revision"`
}

func toShardView(r *rpcpb.ShardResponse) shardView {
	sp := r.Shard.GetSpec()
	v := shardView{
		ID: sp.GetId(), Endpoints: sp.GetEndpoints(), Backends: sp.GetBackends(), Labels: sp.GetLabels(),
		State:      nsfile.ShardStateString(r.Shard.GetState()),
		Namespaces: r.Namespaces, Revision: r.Shard.GetRevision(), DedicatedTo: r.DedicatedTo,
		Capacity: map[string]float64{"read_rps": float64(sp.GetCapacity().GetReadRps()),
			"write_rps": float64(sp.GetCapacity().GetWriteRps()), "data_gb": sp.GetCapacity().GetDataGb()},
		Utilization: map[string]float64{"read": r.Utilization.GetRead(), "write": r.Utilization.GetWrite(), "data": r.Utilization.GetData()},
	}
	if v.Namespaces == nil {
		v.Namespaces = []string{}
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	return v
}

func shardTable(w io.Writer, vs []shardView) {
	fmt.Fprintln(w, "ID\tSTATE\tBACKENDS\tNAMESPACES\tREAD\tWRITE\tENDPOINTS")
	for _, v := range vs {
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%.0f%%\t%.0f%%\t%s\n", v.ID, v.State, strings.Join(v.Backends, ","), len(v.Namespaces),
			100*v.Utilization["read"], 100*v.Utilization["write"], strings.Join(v.Endpoints, ","))
	}
}

func shardCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "shard", Aliases: []string{"shards"}, Short: "Register and administer shards"}
	one := func(use, short string, call func(ctx context.Context, cl *client.Client, id string) (*rpcpb.ShardResponse, error)) *cobra.Command {
		return &cobra.Command{Use: use + " ID", Short: short, Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				return g.withClient(func(ctx context.Context, cl *client.Client) error {
					r, err := call(ctx, cl, args[0])
					if err != nil {
						return about("shard", args[0], err)
					}
					v := toShardView(r)
					return g.emit(v, func(w io.Writer) { shardTable(w, []shardView{v}) })
				})
			}}
	}
	c.AddCommand(
		one("get", "Show one shard", func(ctx context.Context, cl *client.Client, id string) (*rpcpb.ShardResponse, error) {
			return cl.GetShard(ctx, id, g.readConsistency())
		}),
		one("drain", "Mark a shard draining: nothing new is assigned to it", func(ctx context.Context, cl *client.Client, id string) (*rpcpb.ShardResponse, error) {
			return cl.DrainShard(ctx, id, true)
		}),
		one("undrain", "Bring a drained shard back", func(ctx context.Context, cl *client.Client, id string) (*rpcpb.ShardResponse, error) {
			return cl.DrainShard(ctx, id, false)
		}),
		&cobra.Command{Use: "list", Short: "List shards", Args: cobra.NoArgs,
			RunE: func(_ *cobra.Command, _ []string) error {
				return g.withClient(func(ctx context.Context, cl *client.Client) error {
					r, err := cl.ListShards(ctx, g.readConsistency())
					if err != nil {
						return err
					}
					out := struct {
						Shards   []shardView `json:"shards" yaml:"shards"`
						Revision int64       `json:"revision" yaml:"revision"`
					}{Shards: []shardView{}, Revision: r.Revision}
					for _, s := range r.Shards {
						out.Shards = append(out.Shards, toShardView(s))
					}
					return g.emit(out, func(w io.Writer) { shardTable(w, out.Shards) })
				})
			}},
		&cobra.Command{Use: "remove ID", Short: "Remove a shard that serves no namespace", Args: cobra.ExactArgs(1),
			RunE: func(_ *cobra.Command, args []string) error {
				return g.withClient(func(ctx context.Context, cl *client.Client) error {
					if err := cl.RemoveShard(ctx, args[0]); err != nil {
						return about("shard", args[0], err)
					}
					out := struct {
						Removed string `json:"removed" yaml:"removed"`
					}{args[0]}
					return g.emit(out, func(w io.Writer) { fmt.Fprintf(w, "shard/%s removed\n", args[0]) })
				})
			}},
		shardRegisterCmd(g),
	)
	return c
}

// shardRegisterCmd registers a shard by hand (prism-shard does it itself).
func shardRegisterCmd(g *globals) *cobra.Command {
	var id, endpoints, backends, capacity, labels string
	c := &cobra.Command{Use: "register --id ID --endpoint HOST:PORT --backends a,b [--capacity read_rps=N,write_rps=N,data_gb=N] [--labels k=v]",
		Short: "Register (or update) a shard by hand", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			spec, err := shardagent.ParseSpec(id, endpoints, backends, capacity, labels)
			if err != nil {
				return err
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.RegisterShard(ctx, spec)
				if err != nil {
					return err
				}
				v := toShardView(r)
				return g.emit(v, func(w io.Writer) { shardTable(w, []shardView{v}) })
			})
		}}
	f := c.Flags()
	f.StringVar(&id, "id", "", "shard id")
	f.StringVar(&endpoints, "endpoint", "", "comma list of host:port the shard serves on")
	f.StringVar(&backends, "backends", "", "comma list of backends it serves (postgres,kafka,...)")
	f.StringVar(&capacity, "capacity", "", "read_rps=N,write_rps=N,data_gb=N")
	f.StringVar(&labels, "labels", "", "k=v,...")
	return c
}

// resolveCmd answers which shard serves a namespace, and its endpoints.
func resolveCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "resolve NAME", Short: "Which shard serves a namespace, and its endpoints", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.Get(ctx, &rpcpb.GetRequest{Name: args[0], Consistency: g.readConsistency()})
				if err != nil {
					return about("namespace", args[0], err)
				}
				out := struct {
					Namespace string   `json:"namespace" yaml:"namespace"`
					Backend   string   `json:"backend" yaml:"backend"`
					Status    string   `json:"status" yaml:"status"`
					ShardID   string   `json:"shard_id" yaml:"shard_id"`
					Endpoints []string `json:"endpoints" yaml:"endpoints"`
					Revision  int64    `json:"revision" yaml:"revision"`
				}{Namespace: args[0], Backend: r.Namespace.Spec.GetBackend(), Status: nsfile.StatusString(r.Namespace.Status),
					ShardID: r.Namespace.ShardId, Endpoints: []string{}, Revision: r.Namespace.Revision}
				if out.ShardID != "" {
					sh, err := cl.GetShard(ctx, out.ShardID, g.readConsistency())
					if err != nil {
						return about("shard", out.ShardID, err)
					}
					out.Endpoints = sh.Shard.Spec.GetEndpoints()
				}
				return g.emit(out, func(w io.Writer) {
					if out.ShardID == "" {
						fmt.Fprintf(w, "namespace/%s is not assigned to a shard yet\n", out.Namespace)
						return
					}
					fmt.Fprintf(w, "namespace/%s -> shard/%s\t%s\n", out.Namespace, out.ShardID, strings.Join(out.Endpoints, ","))
				})
			})
		}}
}
