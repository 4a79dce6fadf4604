package backends

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	kafka "github.com/segmentio/kafka-go"

	"github.com/prism/controlplane/jepsen/checker"
)

// Inventory reads what the backends hold, straight from the servers:
// every user table (outside pg_catalog, information_schema and Prism's
// own schema prism), every row of prism.resources, and every topic of the
// broker. topicsToCheck are asked of the broker one by one as well
// (DescribeConfigs reaches the broker; metadata of a fresh transport lists
// the rest); a topic exists when either says so.
func Inventory(ctx context.Context, topicsToCheck []string) (checker.Backends, error) {
	var b checker.Backends
	if err := postgresInventory(ctx, &b); err != nil {
		return b, fmt.Errorf("postgres: %w", err)
	}
	if err := kafkaInventory(ctx, &b, topicsToCheck); err != nil {
		return b, fmt.Errorf("kafka: %w", err)
	}
	return b, nil
}

const tablesSQL = `
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'prism')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2`

const rowsSQL = `SELECT schema_name, table_name, cluster_id, namespace, create_revision, released_at IS NOT NULL
FROM prism.resources ORDER BY 1, 2`

func postgresInventory(ctx context.Context, b *checker.Backends) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, PostgresURL())
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(cctx, tablesSQL)
	if err != nil {
		return err
	}
	for rows.Next() {
		var schema, table string
		if err := rows.Scan(&schema, &table); err != nil {
			rows.Close()
			return err
		}
		b.Tables = append(b.Tables, schema+"."+table)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = conn.Query(cctx, rowsSQL)
	if err != nil {
		return err
	}
	for rows.Next() {
		var r checker.RegistryRow
		if err := rows.Scan(&r.Schema, &r.Table, &r.ClusterID, &r.Namespace, &r.CreateRevision, &r.Released); err != nil {
			rows.Close()
			return err
		}
		b.Rows = append(b.Rows, r)
	}
	rows.Close()
	err = rows.Err()
	var pg *pgconn.PgError
	if errors.As(err, &pg) && pg.Code == "42P01" {
		return nil // no registry yet: no table was ever created
	}
	return err
}

func kafkaInventory(ctx context.Context, b *checker.Backends, check []string) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	// A transport of its own: its first metadata request (every topic,
	// auto-creation off) is the broker's answer now, not a cache.
	tr := &kafka.Transport{Dial: (&net.Dialer{Timeout: 3 * time.Second}).DialContext, DialTimeout: 3 * time.Second, ClientID: "prism-jepsen"}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(KafkaBrokers()), Timeout: 10 * time.Second, Transport: tr}
	md, err := cl.Metadata(cctx, &kafka.MetadataRequest{})
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error == nil && !t.Internal && !strings.HasPrefix(t.Name, "__") {
			seen[t.Name] = true
		}
	}
	if len(check) > 0 {
		req := &kafka.DescribeConfigsRequest{}
		for _, name := range check {
			req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: name, ConfigNames: []string{"retention.ms"}})
		}
		resp, err := cl.DescribeConfigs(cctx, req)
		if err != nil {
			return err
		}
		for _, r := range resp.Resources {
			switch {
			case r.Error == nil:
				seen[r.ResourceName] = true
			case errors.Is(r.Error, kafka.UnknownTopicOrPartition):
			default:
				return fmt.Errorf("describe configs of topic %s: %w", r.ResourceName, r.Error)
			}
		}
	}
	for name := range seen {
		b.Topics = append(b.Topics, name)
	}
	sort.Strings(b.Topics)
	return nil
}
