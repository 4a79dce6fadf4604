package archive_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prism/controlplane/archive"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/internal/testpg"
	"github.com/prism/controlplane/rpc"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// TestArchiveRecordsWhoChangedWhat: with ACLs on, the archive's history
// names the principal of each client's change (the one stamped into its
// command) and none for the leader's own.
func TestArchiveRecordsWhoChangedWhat(t *testing.T) {
	url := testpg.Start(t).CreateDB(t)
	ctx := testcluster.Ctx(t, time.Minute)
	store, err := archive.Open(ctx, storeConfig(url), testcluster.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := testcluster.StartServers(t, 1, func(_ int, cfg *server.Config) {
		cfg.RPC = rpc.DefaultConfig()
		cfg.RPC.ACL = true
	}, &server.Backends{Archive: store})
	anon, err := client.New(client.Config{Endpoints: []string{c.Endpoint(0)}})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	boot, err := anon.AclBootstrap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(client.Config{Endpoints: []string{c.Endpoint(0)}, Token: boot.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	tok, err := admin.CreateToken(ctx, &rpcpb.CreateTokenRequest{Kind: "team", Name: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	team, err := client.New(client.Config{Endpoints: []string{c.Endpoint(0)}, Token: tok.Secret})
	if err != nil {
		t.Fatal(err)
	}
	defer team.Close()
	spec := &fsmpb.NamespaceSpec{Name: "orders", Abstraction: "keyvalue", Backend: "bench",
		Access: &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: "team", Name: "orders"}}}}
	if _, err := team.Apply(ctx, &rpcpb.ApplyRequest{Spec: spec}); err != nil {
		t.Fatal(err)
	}
	testcluster.Eventually(t, 20*time.Second, func() error {
		h, err := admin.History(ctx, &rpcpb.HistoryRequest{Name: "orders"})
		if err != nil {
			return err
		}
		byCommand := map[string]string{}
		for _, e := range h.Entries {
			byCommand[e.Command] = e.Principal
		}
		if p, ok := byCommand["apply_namespace"]; !ok || p != "team/orders" {
			return fmt.Errorf("apply_namespace by %q (entries %v)", p, h.Entries)
		}
		if p, ok := byCommand["set_namespace_status"]; ok && p != "" {
			return fmt.Errorf("the lifecycle's change is attributed to %q", p)
		}
		return nil
	})
}
