package rpc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// TestSecretsAreRedactedAtTheGRPCEdge: a secret-named backend_config key
// reads [REDACTED] in every gRPC answer (apply, get, list, watch), as the
// CLI and HTTP show it.
func TestSecretsAreRedactedAtTheGRPCEdge(t *testing.T) {
	c := testcluster.Start(t, 1)
	cl := c.Client()
	defer cl.Close()
	ctx := testcluster.Ctx(t, 20*time.Second)
	const secret = "hunter2-s3cret"
	spec := &fsmpb.NamespaceSpec{Name: "cache", Abstraction: "keyvalue", Backend: "redis",
		BackendConfigJson: []byte(`{"redis":{"auth_token":"` + secret + `","db":3}}`)}
	ar, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	gr, err := cl.Get(ctx, &rpcpb.GetRequest{Name: "cache"})
	if err != nil {
		t.Fatal(err)
	}
	lr, err := cl.List(ctx, &rpcpb.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var watched *fsmpb.Namespace
	_ = cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: 0}, func(e *rpcpb.WatchEvent) error {
		if e.Namespace != nil {
			watched = e.Namespace
			return errStop
		}
		return nil
	})
	for what, ns := range map[string]*fsmpb.Namespace{"apply": ar.Namespace, "get": gr.Namespace, "list": lr.Namespaces[0], "watch": watched} {
		cfg := string(ns.GetSpec().GetBackendConfigJson())
		if strings.Contains(cfg, secret) || !strings.Contains(cfg, "[REDACTED]") || !strings.Contains(cfg, `"db":3`) {
			t.Errorf("%s answered backend_config %s", what, cfg)
		}
	}
}

var errStop = errors.New("stop: the first event is enough")
