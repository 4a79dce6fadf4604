package main

import (
	"encoding/json"
	"io"
	"os"
	"text/tabwriter"

	"go.yaml.in/yaml/v3"
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
