package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"

	"github.com/prism/controlplane/internal/testpg"
)

// nsJSON is the part of `namespace get -o json` these tests read.
type nsJSON struct {
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	Resources    []struct {
		Kind, Name, Target, State, Detail string
	} `json:"resources"`
}

// waitStatus polls until the namespace has the status and its reason
// contains want.
func waitStatus(t *testing.T, eps, name, status, want string) nsJSON {
	t.Helper()
	var v nsJSON
	opsEventually(t, 30*time.Second, name+" "+status, func() error {
		v = nsJSON{}
		if err := opsCtlJSON(t, eps, &v, "namespace", "get", name); err != nil {
			return err
		}
		if v.Status != status || !strings.Contains(v.StatusReason, want) {
			return fmt.Errorf("%s (%s)", v.Status, v.StatusReason)
		}
		return nil
	})
	return v
}

// startDevBroker runs bin/prism-devbroker on a free port until the test ends.
func startDevBroker(t *testing.T) string {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(filepath.Join(binDir, "prism-devbroker"), "--addr", addr, "--ready-file", ready)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	opsEventually(t, 15*time.Second, "dev broker ready", func() error {
		_, err := os.Stat(ready)
		return err
	})
	return addr
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestProvisioningJourney is README's walkthrough with real backends: a
// throwaway Postgres and the dev broker, three prismd processes, and
// prismctl. Tables and topics appear, drift is reported and repaired on
// request, a table Prism did not create is left alone, a password in a
// namespace is refused, and delete --wait removes what Prism made.
func TestProvisioningJourney(t *testing.T) {
	needBinaries(t)
	pg := testpg.StartPrivate(t)
	dbURL := pg.URL("postgres")
	broker := startDevBroker(t)
	c := startClusterWith(t, 3, "--postgres-url", dbURL, "--kafka-brokers", broker, "--provision-check-interval", "1s")
	eps := c.endpoints()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	tableExists := func(name string) bool {
		var ok bool
		if err := db.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}

	up := writeFile(t, "up.yaml", "namespace: user-profiles\nabstraction: keyvalue\nbackend: postgres\n"+
		"capacity: {estimated_read_rps: 5000, estimated_write_rps: 500, estimated_data_size_gb: 100}\n"+
		"access: {owners: [{team: user-service-team}]}\nbackend_config: {postgres: {table_name: user_profiles, pool_size: 20}}\n")
	video := writeFile(t, "video.yaml", "namespace: video-events\nabstraction: timeseries\nbackend: kafka\n"+
		"capacity: {estimated_read_rps: 50000, estimated_write_rps: 150000, estimated_data_size_gb: 2000}\n"+
		"policies: {retention_days: 7}\naccess: {owners: [{team: video-platform}]}\nbackend_config: {kafka: {topic: events-video, partitions: 20}}\n")
	mustCtl(t, eps, "namespace", "apply", "-f", up, "-f", video)

	v := waitStatus(t, eps, "user-profiles", "active", "provisioned")
	if len(v.Resources) != 1 || v.Resources[0].Name != "public.user_profiles" || v.Resources[0].State != "ready" || !tableExists("public.user_profiles") {
		t.Fatalf("user-profiles: %+v", v)
	}
	v = waitStatus(t, eps, "video-events", "active", "provisioned")
	// A client of its own: kafka-go's default transport caches metadata.
	kc := &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	md, err := kc.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"events-video"}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 20 {
		t.Fatalf("topic events-video: %v %+v", err, md)
	}

	// Drift: a table dropped behind Prism's back degrades the namespace;
	// it is recreated only when asked.
	if _, err := db.Exec(ctx, "DROP TABLE public.user_profiles"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, eps, "user-profiles", "degraded", "--recreate")
	if tableExists("public.user_profiles") {
		t.Fatal("a dropped table was recreated without being asked")
	}
	mustCtl(t, eps, "namespace", "reconcile", "user-profiles", "--recreate")
	waitStatus(t, eps, "user-profiles", "active", "provisioned")
	if !tableExists("public.user_profiles") {
		t.Fatal("--recreate did not create the table")
	}

	// A table Prism did not create is neither adopted nor dropped.
	if _, err := db.Exec(ctx, "CREATE TABLE public.orders (id int); INSERT INTO public.orders VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	orders := writeFile(t, "orders.yaml", "namespace: orders\nabstraction: keyvalue\nbackend: postgres\n")
	mustCtl(t, eps, "namespace", "apply", "-f", orders)
	waitStatus(t, eps, "orders", "provisioning", "already exists")

	// A password inside a namespace is refused at apply, and not echoed.
	secret := writeFile(t, "secret.yaml", "namespace: leaky\nabstraction: keyvalue\nbackend: postgres\n"+
		"backend_config: {postgres: {connection_string: 'postgres://app:hunter2@127.0.0.1/postgres'}}\n")
	_, errs, code := ctl(t, eps, "namespace", "apply", "-f", secret)
	if code != 3 || !strings.Contains(errs, "connection_string") || strings.Contains(errs, "hunter2") {
		t.Fatalf("password in a namespace: exit %d: %s", code, errs)
	}

	// Delete removes what Prism made, and only that.
	for _, name := range []string{"user-profiles", "video-events", "orders"} {
		mustCtl(t, eps, "--timeout", "60s", "namespace", "delete", name, "--wait")
	}
	if tableExists("public.user_profiles") {
		t.Fatal("the table outlived its namespace")
	}
	var n int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM public.orders").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the foreign table was touched: %v %d", err, n)
	}
	kc = &kafka.Client{Addr: kafka.TCP(broker), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	dc, err := kc.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: "events-video"}}})
	if err != nil || len(dc.Resources) != 1 || dc.Resources[0].Error == nil {
		t.Fatalf("topic after delete: %v %+v", err, dc)
	}
}
