// Command prismctl drives a Prism control-plane cluster through any node.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// globals are the flags every command takes.
type globals struct {
	timeoutSet  bool // --timeout given: watch stops then too
	endpoints   string
	output      string
	timeout     time.Duration
	consistency string
}

func main() {
	g := &globals{}
	root := &cobra.Command{
		Use:           "prismctl",
		Short:         "Drive a Prism control-plane cluster through any node",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch g.output {
			case "table", "json", "yaml":
			default:
				return fmt.Errorf("-o %q: want table, json or yaml", g.output)
			}
			g.timeoutSet = cmd.Flags().Changed("timeout")
			switch g.consistency {
			case "linearizable", "stale":
			default:
				return fmt.Errorf("--consistency %q: want linearizable or stale", g.consistency)
			}
			return nil
		},
	}
	defEndpoints := os.Getenv("PRISM_ENDPOINTS")
	if defEndpoints == "" {
		defEndpoints = "127.0.0.1:7400"
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.endpoints, "endpoints", defEndpoints, "comma list of node gRPC addresses (env PRISM_ENDPOINTS)")
	pf.StringVarP(&g.output, "output", "o", "table", "output format: table|json|yaml")
	pf.DurationVar(&g.timeout, "timeout", 10*time.Second, "deadline of the whole command")
	pf.StringVar(&g.consistency, "consistency", "linearizable", "reads: linearizable|stale")
	root.AddCommand(namespaceCmd(g), shardCmd(g), watchCmd(g), resolveCmd(g), placementCmd(g), clusterCmd(g), snapshotCmd(g), benchCmd(g), versionCmd(g))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", oneLine(err))
		os.Exit(1)
	}
}

func (g *globals) client() (*client.Client, error) {
	return client.New(client.Config{Endpoints: strings.Split(g.endpoints, ","), AttemptTimeout: attemptTimeout(g.timeout)})
}

// attemptTimeout leaves time for failing over to another node.
func attemptTimeout(total time.Duration) time.Duration {
	return max(total/3, 2*time.Second)
}

// withClient runs f with a client of --endpoints and the command's deadline.
func (g *globals) withClient(f func(ctx context.Context, cl *client.Client) error) error {
	cl, err := g.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := g.ctx()
	defer cancel()
	return f(ctx, cl)
}

func (g *globals) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.timeout)
}

func (g *globals) readConsistency() rpcpb.Consistency {
	if g.consistency == "stale" {
		return rpcpb.Consistency_CONSISTENCY_STALE
	}
	return rpcpb.Consistency_CONSISTENCY_LINEARIZABLE
}
