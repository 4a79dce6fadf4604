package rpc

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/nsfile"
)

// NewHTTPHandler serves /healthz, /readyz, /metrics and the discovery
// endpoint GET /v1/namespaces/{name}.
func NewHTTPHandler(node *cluster.Node, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "node_id": node.ID()})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !node.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "node_id": node.ID(), "leader_id": node.LeaderID()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "node_id": node.ID(), "leader_id": node.LeaderID()})
	})
	// One collector's error (a library sink's inconsistent series) leaves
	// the others served rather than turning /metrics into a 500.
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /v1/namespaces/{name}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if r.URL.Query().Get("consistency") != "stale" {
			if err := node.LinearizableBarrier(ctx); err != nil {
				writeError(w, err)
				return
			}
		}
		ns, _, err := node.FSM().Get(r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		if err := checkNamespaceRead(r.Context(), ns); err != nil {
			writeAuthError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, discovery{View: nsfile.ToView(ns), Shard: shardOf(node, ns.ShardId)})
	})
	return mux
}

// discovery is the namespace JSON plus where it is served (ADR-006's
// resolve): the shard and its endpoints, absent while unassigned.
type discovery struct {
	nsfile.View
	Shard *shardRef `json:"shard,omitempty"`
}

type shardRef struct {
	ID        string   `json:"id"`
	Endpoints []string `json:"endpoints"`
	State     string   `json:"state"`
}

func shardOf(node *cluster.Node, id string) *shardRef {
	if id == "" {
		return nil
	}
	sh, _, err := node.FSM().GetShard(id)
	if err != nil {
		return &shardRef{ID: id, Endpoints: []string{}, State: "unknown"}
	}
	return &shardRef{ID: id, Endpoints: sh.Spec.GetEndpoints(), State: nsfile.ShardStateString(sh.State)}
}

// httpCodes maps gRPC codes (from the one table in errors.go) to HTTP.
var httpCodes = map[codes.Code]int{
	codes.NotFound: http.StatusNotFound, codes.InvalidArgument: http.StatusBadRequest,
	codes.Unavailable: http.StatusServiceUnavailable, codes.DeadlineExceeded: http.StatusGatewayTimeout,
	codes.FailedPrecondition: http.StatusPreconditionFailed, codes.AlreadyExists: http.StatusConflict,
	codes.Unauthenticated: http.StatusUnauthorized, codes.PermissionDenied: http.StatusForbidden,
	codes.ResourceExhausted: http.StatusTooManyRequests,
}

// writeError answers {"error": message, "code": "not_found"|...}: the gRPC
// code in snake case.
func writeError(w http.ResponseWriter, err error) {
	st, _ := status.FromError(toStatus(err))
	code, ok := httpCodes[st.Code()]
	if !ok {
		code = http.StatusInternalServerError
	}
	writeJSON(w, code, map[string]any{"error": st.Message(), "code": snake(st.Code().String())})
}

// snake turns "NotFound" into "not_found".
func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
