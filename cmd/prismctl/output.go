package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// emit prints v as JSON or YAML, or calls table for the table format.
func (g *globals) emit(v any, table func(w io.Writer)) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(b)
		return err
	default:
		tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		table(tw)
		return tw.Flush()
	}
}

// emitLine is emit with JSON on a single line (for bench summaries).
func (g *globals) emitLine(v any, table func(w io.Writer)) error {
	if g.output == "json" {
		return json.NewEncoder(os.Stdout).Encode(v)
	}
	return g.emit(v, table)
}

// oneLine renders an error for stderr: the server's message, then every
// field violation, on one line.
func oneLine(err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = fmt.Sprintf("%s (%s)", st.Message(), strings.ToLower(st.Code().String()))
		if rev, ok := client.CurrentRevision(err); ok {
			msg += "; current revision " + rev
		}
		if client.Reason(err) == rpcpb.ReasonUncertain {
			msg += "; the change may or may not have been applied (a node failed while committing it): check with get, and apply again if needed"
		}
	}
	return strings.ReplaceAll(msg, "\n", "; ")
}
