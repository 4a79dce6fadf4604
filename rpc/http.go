package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/fsm"
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
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
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
		writeJSON(w, http.StatusOK, nsfile.ToView(ns))
	})
	return mux
}

// httpCodes maps gRPC codes (from the one table in errors.go) to HTTP.
var httpCodes = map[string]int{
	"NotFound": http.StatusNotFound, "InvalidArgument": http.StatusBadRequest,
	"Unavailable": http.StatusServiceUnavailable, "DeadlineExceeded": http.StatusGatewayTimeout,
	"FailedPrecondition": http.StatusPreconditionFailed, "AlreadyExists": http.StatusConflict,
}

func writeError(w http.ResponseWriter, err error) {
	st, _ := status.FromError(toStatus(err))
	code, ok := httpCodes[st.Code().String()]
	if !ok {
		code = http.StatusInternalServerError
	}
	body := map[string]any{"error": st.Message(), "code": st.Code().String()}
	if errors.Is(err, fsm.ErrNotFound) {
		body["code"] = "not_found"
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
