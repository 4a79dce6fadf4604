package rpc

import (
	"net/http"
	"slices"
)

// OpenHTTPPaths are the routes a TLS node serves without a client
// certificate: health checkers (load balancers, Kubernetes probes, curl)
// rarely hold one.
var OpenHTTPPaths = []string{"/healthz", "/readyz"}

// RequireClientCert serves h only to requests that came with a verified
// client certificate (the TLS listener verified it against the cluster's
// CA and checked its identity), except on the paths in open. Others get
// 401 {"error", "code": "unauthenticated"}.
func RequireClientCert(h http.Handler, open []string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.TLS != nil && len(r.TLS.PeerCertificates) > 0) || slices.Contains(open, r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusUnauthorized, map[string]any{
			"error": "a client certificate signed by the cluster's CA is required here (curl --cacert CA --cert CERT --key KEY); /healthz and /readyz need none",
			"code":  "unauthenticated",
		})
	})
}
