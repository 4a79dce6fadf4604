package failover

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/prism/controlplane/controller"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/server"
	"github.com/prism/controlplane/internal/testcluster"
	"github.com/prism/controlplane/internal/testpg"
	"github.com/prism/controlplane/provision"
	kafkaprov "github.com/prism/controlplane/provision/kafka"
	pgprov "github.com/prism/controlplane/provision/postgres"
	"github.com/prism/controlplane/rpc/rpcpb"
)

func TestMain(m *testing.M) { os.Exit(testpg.Main(m)) }

// dieOnce makes the leader "die" right after the first backend call of
// the given step for each namespace named, and reports which.
type dieOnce struct {
	mu   sync.Mutex
	step string
	left map[string]bool
	died chan string
}

func (d *dieOnce) hook(ns, step string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if step != d.step || !d.left[ns] {
		return false
	}
	delete(d.left, ns)
	d.died <- ns
	return true
}

// The leader creates a table and a topic and dies before recording
// either; the next leader finishes the job: exactly one table and one
// topic, both namespaces active. Then the same for deletion.
func TestLeaderDiesBetweenBackendCallAndRecord(t *testing.T) {
	dbURL := testpg.Start(t).CreateDB(t)
	kf, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer kf.Close()
	brokers := kf.ListenAddrs()
	targets := provision.Targets{
		Postgres: []provision.PostgresTarget{{Name: provision.DefaultTarget, URL: dbURL}},
		Kafka:    []provision.KafkaTarget{{Name: provision.DefaultTarget, Brokers: brokers}},
	}
	log := testcluster.Logger(t)
	pg := pgprov.New(targets.Postgres, log)
	defer pg.Close()
	kp := kafkaprov.New(targets.Kafka, log)
	defer kp.Close()
	d := &dieOnce{step: "ensure", left: map[string]bool{"tbl": true, "top": true}, died: make(chan string, 4)}
	c := testcluster.StartWithBackends(t, 3, nil, &server.Backends{
		Provisioners: provision.Registry{"postgres": pg, "kafka": kp}, Targets: targets,
		Hooks: &controller.Hooks{AfterBackend: d.hook},
	})
	cl := c.Client()
	defer cl.Close()
	ctx := testcluster.Ctx(t, 90*time.Second)
	for _, s := range []*fsmpb.NamespaceSpec{
		{Name: "tbl", Abstraction: "keyvalue", Backend: "postgres"},
		{Name: "top", Abstraction: "pubsub", Backend: "kafka", BackendConfigJson: []byte(`{"kafka":{"partitions":3}}`)},
	} {
		if _, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: s}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		select {
		case ns := <-d.died:
			leader := c.Leader()
			t.Logf("leader n%d died after creating %s's resource", leader+1, ns)
			c.Stop(leader, false)
			c.WaitLeader(15 * time.Second)
			c.Restart(leader) // keep a quorum for the next death
		case <-ctx.Done():
			t.Fatal("the hook never fired")
		}
	}
	for _, name := range []string{"tbl", "top"} {
		waitActive(t, cl, name)
	}
	db, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	var tables, rows int
	if err := db.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'tbl'").Scan(&tables); err != nil || tables != 1 {
		t.Fatalf("tables: %d %v", tables, err)
	}
	if err := db.QueryRow(ctx, "SELECT count(*) FROM prism.resources WHERE namespace = 'tbl'").Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("registry rows: %d %v", rows, err)
	}
	kc := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: &kafka.Transport{}}
	md, err := kc.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"top"}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != 3 {
		t.Fatalf("topic: %v %+v", err, md)
	}
}

func waitActive(t *testing.T, cl interface {
	Get(context.Context, *rpcpb.GetRequest) (*rpcpb.GetResponse, error)
}, name string) {
	t.Helper()
	testcluster.Eventually(t, 45*time.Second, func() error {
		r, err := cl.Get(context.Background(), &rpcpb.GetRequest{Name: name})
		if err != nil {
			return err
		}
		ns := r.Namespace
		if ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
			return fmt.Errorf("%s: %s (%s) %v", name, ns.Status, ns.StatusReason, ns.Resources)
		}
		return nil
	})
}
