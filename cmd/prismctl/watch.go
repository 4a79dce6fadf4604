package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/nsfile"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// watchLine is one line of `watch -o json`.
type watchLine struct {
	Type     string `json:"type"`
	Revision int64  `json:"revision"`
	Kind     string `json:"kind,omitempty"`
	Name     string `json:"name,omitempty"`
	Object   any    `json:"object,omitempty"`
}

func watchCmd(g *globals) *cobra.Command {
	req := &rpcpb.WatchRequest{}
	var shard string
	var names, kinds []string
	c := &cobra.Command{
		Use:   "watch [--shard ID] [--namespace NAME] [--kind K] [--from-revision R]",
		Short: "Stream changes (-o json: one JSON object per line); resumes across node failures",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			req.ShardId, req.Names, req.Kinds = shard, names, kinds
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx := context.Background()
			if g.timeoutSet {
				var cancel context.CancelFunc
				ctx, cancel = g.ctx()
				defer cancel()
			}
			enc := json.NewEncoder(os.Stdout)
			err = cl.Watch(ctx, req, func(e *rpcpb.WatchEvent) error {
				line := watchLine{Type: e.Type, Revision: e.Revision, Kind: e.Kind, Name: e.Name}
				switch {
				case e.Namespace != nil:
					line.Object = nsfile.ToView(e.Namespace)
				case e.Shard != nil:
					line.Object = toShardView(&rpcpb.ShardResponse{Shard: e.Shard})
				}
				if g.output == "json" {
					return enc.Encode(line)
				}
				_, err := fmt.Printf("%d\t%s\t%s\t%s\n", e.Revision, e.Type, e.Kind, e.Name)
				return err
			})
			if g.timeoutSet && errors.Is(err, context.DeadlineExceeded) {
				return nil // watched for --timeout, as asked
			}
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&shard, "shard", "", "only namespaces on (or leaving) this shard, and the shard")
	f.StringSliceVar(&names, "namespace", nil, "only these names (repeatable)")
	f.StringSliceVar(&kinds, "kind", nil, "only these kinds: namespace, shard")
	f.Int64Var(&req.FromRevision, "from-revision", 0, "0: current state first; R: the changes after revision R")
	return c
}
