package shardagent

import (
	"encoding/json"
	"net/http"

	"github.com/prism/controlplane/nsfile"
)

// AssignmentsView is the JSON of GET /assignments (PRODUCT.md).
type AssignmentsView struct {
	ShardID    string        `json:"shard_id"`
	Revision   int64         `json:"revision"`
	State      string        `json:"state,omitempty"` // the shard's state as last seen
	Connected  bool          `json:"connected"`       // streaming from the control plane now
	Namespaces []nsfile.View `json:"namespaces"`
}

// Handler serves GET /assignments and GET /healthz.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /assignments", func(w http.ResponseWriter, _ *http.Request) {
		v := a.View()
		out := AssignmentsView{ShardID: v.ShardID, Revision: v.Revision, Connected: v.Connected, Namespaces: []nsfile.View{}}
		if v.Shard != nil {
			out.State = nsfile.ShardStateString(v.Shard.State)
		}
		for _, ns := range v.Namespaces {
			out.Namespaces = append(out.Namespaces, nsfile.ToView(ns))
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}
