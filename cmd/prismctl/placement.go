package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// planView is a plan as -o json prints it.
type planView struct {
	Revision      int64          `json:"revision" yaml:"revision"`
	Assigns       int32          `json:"assigns" yaml:"assigns"`
	Moves         int32          `json:"moves" yaml:"moves"`
	Unschedulable int32          `json:"unschedulable" yaml:"unschedulable"`
	Degraded      int32          `json:"degraded" yaml:"degraded"`
	Applied       int32          `json:"applied" yaml:"applied"`
	Decisions     []decisionView `json:"decisions" yaml:"decisions"`
}

type decisionView struct {
	Namespace   string           `json:"namespace" yaml:"namespace"`
	Kind        string           `json:"kind" yaml:"kind"`
	Shard       string           `json:"shard,omitempty" yaml:"shard,omitempty"`
	From        string           `json:"from,omitempty" yaml:"from,omitempty"`
	Reason      string           `json:"reason" yaml:"reason"`
	Rejected    map[string]int32 `json:"rejected,omitempty" yaml:"rejected,omitempty"`
	Utilization float64          `json:"utilization_after" yaml:"utilization_after"`
}

func toPlanView(r *rpcpb.PlanResponse) planView {
	v := planView{Revision: r.Revision, Assigns: r.Assigns, Moves: r.Moves, Unschedulable: r.Unschedulable,
		Degraded: r.Degraded, Applied: r.Applied, Decisions: []decisionView{}}
	for _, d := range r.Decisions {
		v.Decisions = append(v.Decisions, decisionView{Namespace: d.Namespace, Kind: d.Kind, Shard: d.Shard, From: d.From,
			Reason: d.Reason, Rejected: d.Rejected, Utilization: float64(d.ScorePermille) / 1000})
	}
	return v
}

func planTable(w io.Writer, v planView) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tKIND\tFROM\tTO\tUTIL\tREASON")
	for _, d := range v.Decisions {
		reason := d.Reason // the engine's reason already counts rejections
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%s\n", d.Namespace, d.Kind, dash(d.From), dash(d.Shard), d.Utilization, reason)
	}
	tw.Flush()
	fmt.Fprintf(w, "revision %d: %d assigns, %d moves, %d unschedulable, %d degraded, %d applied\n",
		v.Revision, v.Assigns, v.Moves, v.Unschedulable, v.Degraded, v.Applied)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type explainView struct {
	Namespace   string          `json:"namespace" yaml:"namespace"`
	Class       string          `json:"class" yaml:"class"`
	ClassReason string          `json:"class_reason" yaml:"class_reason"`
	Current     string          `json:"current" yaml:"current"`
	Choice      string          `json:"choice" yaml:"choice"`
	Revision    int64           `json:"revision" yaml:"revision"`
	Candidates  []candidateView `json:"candidates" yaml:"candidates"`
}

type candidateView struct {
	Shard       string  `json:"shard" yaml:"shard"`
	Accepted    bool    `json:"accepted" yaml:"accepted"`
	Tier        string  `json:"tier,omitempty" yaml:"tier,omitempty"`
	Constraint  string  `json:"constraint,omitempty" yaml:"constraint,omitempty"`
	Reason      string  `json:"reason" yaml:"reason"`
	Utilization float64 `json:"utilization_after" yaml:"utilization_after"`
}

func placementCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "placement", Short: "See and steer placement"}
	c.AddCommand(&cobra.Command{Use: "assign NAME SHARD", Short: `Pin a namespace to a shard ("" unpins and lets the engine place it)`, Args: cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.Assign(ctx, args[0], args[1])
				if err != nil {
					return assignSubject(ctx, g, cl, args[0], args[1], err)
				}
				v := nsfile.ToView(r.Namespace)
				return g.emit(v, func(w io.Writer) { nsTable(w, []nsfile.View{v}) })
			})
		}})
	c.AddCommand(&cobra.Command{Use: "plan", Short: "What the placement engine would change now", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.PlacementPlan(ctx)
				if err != nil {
					return err
				}
				v := toPlanView(r)
				return g.emit(v, func(w io.Writer) { planTable(w, v) })
			})
		}})
	c.AddCommand(&cobra.Command{Use: "explain NAME", Short: "Every candidate shard: accepted or rejected, why, and the score", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.Explain(ctx, args[0])
				if err != nil {
					return about("namespace", args[0], err)
				}
				v := explainView{Namespace: r.Namespace, Class: r.Class, ClassReason: r.ClassReason, Current: r.Current,
					Choice: r.Choice, Revision: r.Revision, Candidates: []candidateView{}}
				for _, c := range r.Candidates {
					v.Candidates = append(v.Candidates, candidateView{Shard: c.Shard, Accepted: c.Accepted, Tier: c.Tier,
						Constraint: c.Constraint, Reason: c.Reason, Utilization: float64(c.ScorePermille) / 1000})
				}
				return g.emit(v, func(w io.Writer) {
					fmt.Fprintf(w, "namespace/%s: %s (%s); on %s; would choose %s\n", v.Namespace, v.Class, v.ClassReason, dash(v.Current), dash(v.Choice))
					tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "SHARD\tVERDICT\tTIER\tUTIL\tREASON")
					for _, c := range v.Candidates {
						verdict := "rejected:" + c.Constraint
						if c.Accepted {
							verdict = "accepted"
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\n", c.Shard, verdict, dash(c.Tier), c.Utilization, c.Reason)
					}
					tw.Flush()
				})
			})
		}})
	var dryRun bool
	var maxMoves int
	rb := &cobra.Command{Use: "rebalance [--dry-run] [--max-moves N]", Short: "Improve balance under a move budget", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if maxMoves < 0 {
				return usageErr("--max-moves must not be negative")
			}
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				r, err := cl.Rebalance(ctx, dryRun, maxMoves)
				if err != nil {
					return err
				}
				v := toPlanView(r)
				return g.emit(v, func(w io.Writer) { planTable(w, v) })
			})
		}}
	rb.Flags().BoolVar(&dryRun, "dry-run", false, "only show the plan (the same plan a real run commits on the same state)")
	rb.Flags().IntVar(&maxMoves, "max-moves", 0, "move budget (0: 0.5% of namespaces, at least 1)")
	c.AddCommand(rb)
	return c
}

// assignSubject names what an assign's NotFound is about: the namespace
// when it does not exist, else the shard.
func assignSubject(ctx context.Context, g *globals, cl *client.Client, name, shard string, err error) error {
	if st, ok := grpcStatus(err); !ok || st.Code() != codes.NotFound {
		return about("namespace", name, err)
	}
	if _, gerr := cl.Get(ctx, &rpcpb.GetRequest{Name: name, Consistency: g.readConsistency()}); gerr == nil {
		return about("shard", shard, err)
	}
	return about("namespace", name, err)
}
