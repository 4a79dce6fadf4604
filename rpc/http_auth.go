package rpc

import (
	"crypto/x509"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/audit"
)

// HTTPAuth is what the HTTP listener asks of a request.
type HTTPAuth struct {
	// ACL: every route but OpenHTTPPaths needs an identity (a token in
	// "Authorization: Bearer", or a verified client certificate);
	// discovery of a namespace needs the right to read it, /metrics and
	// /debug/ the operator role (unless MetricsOpen).
	ACL bool
	// MetricsOpen leaves /metrics open with ACL on (for a scraper
	// without a token; it shows counts, never names or secrets).
	MetricsOpen bool
	Audit       *audit.Log
}

// httpRoutes is the one table of HTTP routes and their ACL rules: a path
// not in it needs an admin.
var httpRoutes = []struct {
	prefix string
	rule   acl.Rule
}{
	{"/healthz", acl.RuleOpen},
	{"/readyz", acl.RuleOpen},
	{"/v1/namespaces/", acl.RuleObject}, // the handler checks the namespace
	{"/metrics", acl.RuleOperator},
	{"/debug/", acl.RuleOperator},
}

func httpRule(path string) acl.Rule {
	for _, r := range httpRoutes {
		if path == r.prefix || (strings.HasSuffix(r.prefix, "/") && strings.HasPrefix(path, r.prefix)) {
			return r.rule
		}
	}
	return acl.RuleAdmin
}

// WithHTTPAuth authenticates every request to h (a token, else a client
// certificate the TLS listener verified) and, with ACLs on, checks the
// route's rule; the discovery handler checks the namespace. Refusals are
// 401 (no identity) or 403 (not allowed), as JSON {"error", "code"}.
func WithHTTPAuth(node *cluster.Node, cfg HTTPAuth, h http.Handler) http.Handler {
	a := &authorizer{node: node, enabled: cfg.ACL, audit: cfg.Audit}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rule := httpRule(r.URL.Path)
		if rule == acl.RuleOpen || (cfg.MetricsOpen && r.URL.Path == "/metrics") {
			h.ServeHTTP(w, r)
			return
		}
		c, err := a.httpCaller(r)
		if err == nil && a.enabled {
			err = rule.Check(c.p)
		}
		if err != nil {
			a.recordHTTP(r, c, toStatus(err))
			writeAuthError(w, err)
			return
		}
		c.enforce = a.enabled
		h.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	})
}

// httpCaller is who a request is from, as authenticate is for a gRPC call.
func (a *authorizer) httpCaller(r *http.Request) (caller, error) {
	var chains [][]*x509.Certificate
	if r.TLS != nil {
		chains = r.TLS.VerifiedChains
	}
	return a.identify(r.Header.Values("Authorization"), chains)
}

func (a *authorizer) recordHTTP(r *http.Request, c caller, err error) {
	if a.audit == nil {
		return
	}
	st, _ := status.FromError(err)
	a.audit.Log(audit.Event{Node: a.node.ID(), Principal: c.p.String(), TokenID: c.p.TokenID,
		Method: "HTTP " + r.Method + " " + r.URL.Path, Decision: "deny", Code: st.Code().String(), Reason: st.Message(), Peer: r.RemoteAddr})
}

// writeAuthError answers a refusal: 401 with a WWW-Authenticate
// challenge for no identity, 403 for not allowed.
func writeAuthError(w http.ResponseWriter, err error) {
	if status.Code(toStatus(err)) == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="prism"`)
	}
	writeError(w, err)
}
