package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func namespaceCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "namespace", Aliases: []string{"ns", "namespaces"}, Short: "Create, read and delete namespaces"}
	c.AddCommand(nsApplyCmd(g), nsGetCmd(g), nsListCmd(g), nsDescribeCmd(g), nsDeleteCmd(g), nsReconcileCmd(g))
	return c
}

// listView is the JSON shape of `namespace list`.
type listView struct {
	Namespaces []nsfile.View `json:"namespaces" yaml:"namespaces"`
	Revision   int64         `json:"revision" yaml:"revision"`
}

func views(list []*fsmpb.Namespace) []nsfile.View {
	out := make([]nsfile.View, 0, len(list))
	for _, ns := range list {
		out = append(out, nsfile.ToView(ns))
	}
	return out
}

func nsTable(w io.Writer, vs []nsfile.View) {
	fmt.Fprintln(w, "NAME\tABSTRACTION\tBACKEND\tSTATUS\tSHARD\tREVISION")
	for _, v := range vs {
		shard := v.ShardID
		if shard == "" {
			shard = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\n", v.Name, v.Abstraction, v.Backend, v.Status, shard, v.Revision)
	}
}

func printApply(g *globals, results []*rpcpb.ApplyResponse, dryRun bool) error {
	vs := make([]nsfile.View, len(results))
	for i, r := range results {
		vs[i] = nsfile.ToView(r.Namespace)
	}
	var out any = vs
	if len(vs) == 1 {
		out = vs[0]
	}
	return g.emit(out, func(w io.Writer) {
		for i, r := range results {
			verb := "configured"
			switch {
			case r.Unchanged:
				verb = "unchanged"
			case r.Namespace.CreateRevision == r.Namespace.Revision:
				verb = "created"
			}
			if dryRun {
				verb += " (dry run)"
			}
			fmt.Fprintf(w, "namespace/%s %s\trevision %d\tstatus %s", vs[i].Name, verb, r.Namespace.Revision, vs[i].Status)
			if dryRun {
				switch {
				case vs[i].ShardID != "":
					fmt.Fprintf(w, "\tshard %s", vs[i].ShardID)
				case strings.HasPrefix(vs[i].StatusReason, "unschedulable"):
					fmt.Fprintf(w, "\t%s", vs[i].StatusReason)
				}
			}
			fmt.Fprintln(w)
		}
	})
}

func nsGetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show one namespace",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ns, _, err := getNamespace(g, args[0])
			if err != nil {
				return err
			}
			v := nsfile.ToView(ns)
			return g.emit(v, func(w io.Writer) {
				nsTable(w, []nsfile.View{v})
				for _, r := range v.Resources {
					fmt.Fprintf(w, "  %s %s on %s: %s (%s)\n", r.Kind, r.Name, r.Target, r.State, r.Detail)
				}
				if v.StatusReason != "" {
					fmt.Fprintf(w, "  reason: %s\n", v.StatusReason)
				}
			})
		},
	}
}

func getNamespace(g *globals, name string) (ns *fsmpb.Namespace, h *rpcpb.ReadHeader, err error) {
	err = g.withClient(func(ctx context.Context, cl *client.Client) error {
		r, err := cl.Get(ctx, &rpcpb.GetRequest{Name: name, Consistency: g.readConsistency()})
		if err != nil {
			return about("namespace", name, err)
		}
		ns, h = r.Namespace, r.Header
		return nil
	})
	return ns, h, err
}

func nsDescribeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME",
		Short: "Show one namespace in full, with where the read was served",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			ns, h, err := getNamespace(g, args[0])
			if err != nil {
				return err
			}
			v := nsfile.ToView(ns)
			if g.output != "table" {
				return g.emit(v, nil)
			}
			saved := g.output
			g.output = "yaml"
			defer func() { g.output = saved }()
			if err := g.emit(v, nil); err != nil {
				return err
			}
			fmt.Printf("# read from node %s at cluster revision %d (applied index %d)\n", h.NodeId, h.Revision, h.AppliedIndex)
			return nil
		},
	}
}

func nsListCmd(g *globals) *cobra.Command {
	var shard, st string
	var all bool
	c := &cobra.Command{
		Use:   "list",
		Short: "List namespaces (tombstones of deleted ones only with --all or --status deleted)",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.List(ctx, &rpcpb.ListRequest{Consistency: g.readConsistency(), ShardId: shard, Status: st, IncludeDeleted: all})
				if err != nil {
					return err
				}
				lv := listView{Namespaces: views(r.Namespaces), Revision: r.Header.GetRevision()}
				return g.emit(lv, func(w io.Writer) { nsTable(w, lv.Namespaces) })
			})
		},
	}
	c.Flags().StringVar(&shard, "shard", "", "only namespaces on this shard")
	c.Flags().StringVar(&st, "status", "", "only namespaces in this status (provisioning|active|degraded|deleting|deleted)")
	c.Flags().BoolVar(&all, "all", false, "include deleted namespaces still kept as tombstones")
	return c
}

func nsDeleteCmd(g *globals) *cobra.Command {
	var wait bool
	var expect int64
	c := &cobra.Command{
		Use:   "delete NAME",
		Short: "Start deleting a namespace (--wait until it is deleted)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				req := &rpcpb.DeleteRequest{Name: args[0]}
				if cmd.Flags().Changed("expect-revision") {
					req.ExpectedRevision = &expect
				}
				r, err := cl.Delete(ctx, req)
				if err != nil {
					return about("namespace", args[0], err)
				}
				ns := r.Namespace
				if wait {
					if ns, err = waitDeleted(ctx, g, cl, args[0]); err != nil {
						return err
					}
				}
				v := nsfile.ToView(ns)
				return g.emit(v, func(w io.Writer) { fmt.Fprintf(w, "namespace/%s %s\trevision %d\n", v.Name, v.Status, v.Revision) })
			})
		},
	}
	c.Flags().BoolVar(&wait, "wait", false, "wait until the namespace is deleted")
	c.Flags().Int64Var(&expect, "expect-revision", 0, "delete only if the namespace is at this revision")
	return c
}

func nsReconcileCmd(g *globals) *cobra.Command {
	var recreate bool
	c := &cobra.Command{
		Use:   "reconcile NAME",
		Short: "Retry a namespace's provisioning now (--recreate: create missing resources again, empty)",
		Long: "Asks the leader to reconcile the namespace now: past its retry backoff, and past a failure that waits for an operator " +
			"(a table or topic Prism did not create, a permission denied). A resource removed behind Prism's back leaves the namespace " +
			"degraded; --recreate creates it again, empty, which is why it is never done without being asked.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.Reconcile(ctx, &rpcpb.ReconcileRequest{Name: args[0], Recreate: recreate})
				if err != nil {
					return about("namespace", args[0], err)
				}
				v := nsfile.ToView(r.Namespace)
				return g.emit(v, func(w io.Writer) {
					fmt.Fprintf(w, "namespace/%s reconcile requested\trevision %d\n", v.Name, v.Revision)
				})
			})
		},
	}
	c.Flags().BoolVar(&recreate, "recreate", false, "create resources that went missing again (empty)")
	return c
}

type getter interface {
	Get(context.Context, *rpcpb.GetRequest) (*rpcpb.GetResponse, error)
}

func waitDeleted(ctx context.Context, g *globals, cl getter, name string) (*fsmpb.Namespace, error) {
	for {
		r, err := cl.Get(ctx, &rpcpb.GetRequest{Name: name, Consistency: g.readConsistency()})
		if status.Code(err) == codes.NotFound {
			// Already purged: deleted, and its tombstone gone too.
			return &fsmpb.Namespace{Spec: &fsmpb.NamespaceSpec{Name: name}, Status: fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED}, nil
		}
		if err != nil {
			return nil, about("namespace", name, err)
		}
		if r.Namespace.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			return r.Namespace, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("namespace %q still %s when --timeout %s ran out: %w", name, nsfile.StatusString(r.Namespace.Status), g.timeout, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
