// Command prismctl drives a Prism control-plane cluster through any node.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

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
	// TLS: the CA to check nodes with, and a client certificate and key.
	cacert, cert, key string
	tls               *tls.Config // built from them once (nil: plaintext)
	tlsErr            error
	tlsOnce           sync.Once
	// token is --token, or PRISM_TOKEN without it: an ACL token's secret,
	// sent on every call. Never printed, logged or part of an error.
	token string
}

func main() {
	os.Exit(run(os.Args[1:]))
}

// run runs prismctl with args and returns its exit code.
func run(args []string) int {
	g := &globals{}
	root := &cobra.Command{
		Use:           "prismctl",
		Short:         "Drive a Prism control-plane cluster through any node",
		Long:          "Drive a Prism control-plane cluster through any node.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			switch g.output {
			case "table", "json", "yaml":
			default:
				return usageErr("-o %q: want table, json or yaml", g.output)
			}
			g.timeoutSet = cmd.Flags().Changed("timeout")
			if !cmd.Flags().Changed("token") {
				// Not the flag's default: --help prints defaults.
				g.token = os.Getenv("PRISM_TOKEN")
			}
			switch g.consistency {
			case "linearizable", "stale":
			default:
				return usageErr("--consistency %q: want linearizable or stale", g.consistency)
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
	pf.StringVar(&g.cacert, "cacert", os.Getenv("PRISM_CACERT"), "PEM CA certificate the nodes' certificates must chain to: connect with TLS (env PRISM_CACERT)")
	pf.StringVar(&g.cert, "cert", os.Getenv("PRISM_CERT"), "PEM client certificate to present (prismctl tls cert create --client KIND/NAME; env PRISM_CERT)")
	pf.StringVar(&g.key, "key", os.Getenv("PRISM_KEY"), "PEM private key of --cert (env PRISM_KEY)")
	pf.StringVar(&g.token, "token", "", "ACL token to act as (prismctl acl bootstrap or acl token create); env PRISM_TOKEN, which keeps it out of the process list. Without TLS it crosses the network in clear")
	root.AddCommand(namespaceCmd(g), shardCmd(g), watchCmd(g), resolveCmd(g), placementCmd(g), clusterCmd(g), snapshotCmd(g), archiveCmd(g), historyCmd(g), benchCmd(g), tlsCmd(g), aclCmd(g), versionCmd(g))
	started := false
	markUsage(root, &started)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		if !started {
			// Flags, arguments or the command itself were wrong: nothing ran.
			var ce *cliError
			if !errors.As(err, &ce) {
				err = &cliError{class: classUsage, msg: err.Error()}
			}
		}
		if g.token != "" {
			err = &tokenGiven{err}
		}
		return report(os.Stderr, err, g.output == "json")
	}
	return 0
}

// markUsage sets *started when a command's own work begins, so errors
// before it (cobra's flag and argument checks) are usage errors; a group
// given an unknown subcommand is one too.
func markUsage(c *cobra.Command, started *bool) {
	if c.HasParent() && c.HasSubCommands() && c.RunE == nil && c.Run == nil {
		// cobra itself only catches an unknown command of the root.
		c.Args = cobra.ArbitraryArgs
		c.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			err := usageErr("unknown command %q for %q", args[0], c.CommandPath())
			c.SuggestionsMinimumDistance = 2 // cobra's default for the root
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				err = usageErr("unknown command %q for %q; did you mean %s?", args[0], c.CommandPath(), strings.Join(s, " or "))
			}
			return err
		}
	} else if run := c.RunE; run != nil {
		c.RunE = func(c *cobra.Command, args []string) error {
			*started = true
			return run(c, args)
		}
	}
	for _, sub := range c.Commands() {
		markUsage(sub, started)
	}
}

func (g *globals) client() (*client.Client, error) {
	return g.clientOf(client.Config{Endpoints: g.endpointList(), AttemptTimeout: attemptTimeout(g.timeout)})
}

// clientOf is a client of cfg with the TLS and token the global flags ask
// for.
func (g *globals) clientOf(cfg client.Config) (*client.Client, error) {
	tc, err := g.tlsConfig()
	if err != nil {
		return nil, err
	}
	cfg.TLS, cfg.Token = tc, g.token
	cl, err := client.New(cfg)
	if errors.Is(err, client.ErrBadToken) {
		return nil, usageErr("--token (or PRISM_TOKEN): %v", err)
	}
	return cl, err
}

// endpointList is --endpoints split, without empty entries.
func (g *globals) endpointList() []string {
	var out []string
	for _, e := range strings.Split(g.endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// attemptTimeout leaves time for failing over to another node.
func attemptTimeout(total time.Duration) time.Duration {
	return max(total/3, 2*time.Second)
}

// withClient runs f with a client of --endpoints and the command's deadline.
// Meanwhile it probes the endpoints: when every one refuses the connection
// (or cannot exist), f is stopped at once instead of retrying until the
// deadline. A failure for want of a node says which endpoints were tried.
func (g *globals) withClient(f func(ctx context.Context, cl *client.Client) error) error {
	cl, err := g.client()
	var ce *cliError
	if errors.As(err, &ce) {
		return ce
	}
	if err != nil {
		return usageErr("--endpoints %q: %v", g.endpoints, err)
	}
	defer cl.Close()
	ctx, cancel := g.ctx()
	defer cancel()
	runCtx, stop := context.WithCancelCause(ctx)
	probed := make(chan struct{})
	plaintext := g.tls == nil
	go func() {
		defer close(probed)
		if r := probe(runCtx, g.endpointList()); allDefinitive(r) {
			stop(unreachable(r))
			return
		}
		if !plaintext {
			return
		}
		// Without TLS flags, a command still running after a moment may be
		// failing against nodes that serve TLS: say so instead of retrying
		// until the deadline.
		select {
		case <-runCtx.Done():
			return
		case <-time.After(sniffAfter):
		}
		if ue := needsTLS(runCtx, g.endpointList()); ue != nil {
			stop(ue)
		}
	}()
	err = f(runCtx, cl)
	stop(nil)
	<-probed
	if err == nil {
		return nil
	}
	var ue *cliError
	if cause := context.Cause(runCtx); errors.As(cause, &ue) && (ue.class == classUnavailable || ue.class == classPermission) {
		return ue
	}
	return g.diagnose(err)
}

// diagnose explains a failure to reach the cluster (Unavailable without a
// reason, or a deadline) by connecting to each endpoint.
func (g *globals) diagnose(err error) error {
	st, ok := grpcStatus(err)
	if !ok || (st.Code() != codes.Unavailable && st.Code() != codes.DeadlineExceeded) {
		return err
	}
	if e := explain(err); len(e.details) > 0 {
		return err // the server said why (no leader, outcome unknown, ...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*probeTimeout)
	defer cancel()
	if ue := unreachable(probe(ctx, g.endpointList())); ue != nil {
		return ue
	}
	if st.Code() == codes.DeadlineExceeded {
		return &cliError{class: classUnavailable, msg: fmt.Sprintf("no answer within --timeout %s (%s)", g.timeout, st.Message())}
	}
	return err
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
