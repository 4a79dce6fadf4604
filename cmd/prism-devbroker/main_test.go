package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/prism/controlplane/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// broker is a prism-devbroker started through run, as the binary starts.
type broker struct {
	addrs  []string
	stop   func()
	done   chan error
	stdout *bytes.Buffer
}

// startBroker runs the command with args plus a ready file, and returns
// once the ready file names its addresses. The broker stops at cleanup.
func startBroker(t *testing.T, args ...string) *broker {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	ctx, cancel := context.WithCancel(context.Background())
	b := &broker{stop: cancel, done: make(chan error, 1), stdout: new(bytes.Buffer)}
	var stderr bytes.Buffer
	go func() {
		b.done <- run(ctx, append(args, "--ready-file", ready), b.stdout, &stderr)
	}()
	t.Cleanup(func() { b.shutdown(t) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(ready)
		if err == nil {
			b.addrs = strings.Split(strings.TrimSpace(string(data)), ",")
			return b
		}
		select {
		case err := <-b.done:
			b.done <- err
			t.Fatalf("broker exited before it was ready: %v; log:\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file after 10s; log:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// shutdown cancels the broker and waits for run to return (bounded).
func (b *broker) shutdown(t *testing.T) {
	t.Helper()
	b.stop()
	select {
	case err := <-b.done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		b.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not stop within 10s of cancel")
	}
}

func newClient(t *testing.T, addr string) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second, Transport: tr}
}

// describeRetention reads retention.ms of topic from the broker, and the
// topic's own error (nil when it exists).
func describeRetention(ctx context.Context, t *testing.T, c *kafka.Client, topic string) (string, error) {
	t.Helper()
	resp, err := c.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{
		Resources: []kafka.DescribeConfigRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"retention.ms"},
		}},
	})
	if err != nil {
		t.Fatalf("DescribeConfigs: %v", err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("DescribeConfigs: %d resources, want 1", len(resp.Resources))
	}
	r := resp.Resources[0]
	if r.Error != nil {
		return "", r.Error
	}
	for _, e := range r.ConfigEntries {
		if e.ConfigName == "retention.ms" {
			return e.ConfigValue, nil
		}
	}
	return "", nil
}

// waitListed polls the broker's metadata until it lists topic with
// partitions partitions (kafka-go may answer metadata from a cache).
func waitListed(ctx context.Context, t *testing.T, c *kafka.Client, topic string, partitions int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		md, err := c.Metadata(ctx, &kafka.MetadataRequest{})
		if err != nil {
			t.Fatalf("Metadata: %v", err)
		}
		for _, tp := range md.Topics {
			if tp.Name == topic && len(tp.Partitions) == partitions {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %q with %d partitions not listed after 10s: %+v", topic, partitions, md.Topics)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func createTopic(ctx context.Context, t *testing.T, c *kafka.Client, topic string) error {
	t.Helper()
	resp, err := c.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: topic, NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "retention.ms", ConfigValue: "60000"}},
	}}})
	if err != nil {
		t.Fatalf("CreateTopics: %v", err)
	}
	return resp.Errors[topic]
}

// A kafka-go admin client creates, lists, describes and deletes a topic on
// the broker, and the broker stops when its context ends.
func TestTopicAdminWithKafkaGo(t *testing.T) {
	b := startBroker(t, "--addr", "127.0.0.1:0")
	if len(b.addrs) != 1 {
		t.Fatalf("ready file names %v, want one address", b.addrs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, b.addrs[0])

	const topic = "video-events"
	if err := createTopic(ctx, t, c, topic); err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := createTopic(ctx, t, c, topic); !errors.Is(err, kafka.TopicAlreadyExists) {
		t.Fatalf("second create: %v, want %v", err, kafka.TopicAlreadyExists)
	}
	waitListed(ctx, t, c, topic, 3)
	if v, err := describeRetention(ctx, t, c, topic); err != nil || v != "60000" {
		t.Fatalf("retention.ms = %q, %v; want 60000", v, err)
	}

	resp, err := c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
	if err != nil || resp.Errors[topic] != nil {
		t.Fatalf("DeleteTopics: %v, %v", err, resp.Errors)
	}
	if _, err := describeRetention(ctx, t, c, topic); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("describe after delete: %v, want %v", err, kafka.UnknownTopicOrPartition)
	}

	b.shutdown(t)
	if got := strings.TrimSpace(b.stdout.String()); got != b.addrs[0] {
		t.Errorf("stdout %q, want the bootstrap address %q", got, b.addrs[0])
	}
	if conn, err := net.DialTimeout("tcp", b.addrs[0], time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after stop", b.addrs[0])
	}
}

// No topic appears because a client asked for its metadata: provisioners
// rely on an existence check never creating what it checks.
func TestNoAutoCreate(t *testing.T) {
	b := startBroker(t, "--addr", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := newClient(t, b.addrs[0])
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"nobody-made-me"}})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	for _, tp := range md.Topics {
		if tp.Error == nil {
			t.Fatalf("metadata of a missing topic created it: %+v", tp)
		}
	}
	if _, err := describeRetention(ctx, t, c, "nobody-made-me"); !errors.Is(err, kafka.UnknownTopicOrPartition) {
		t.Fatalf("describe: %v, want %v", err, kafka.UnknownTopicOrPartition)
	}
}

// With --brokers 3 every broker listens and the metadata lists all three.
func TestSeveralBrokers(t *testing.T) {
	b := startBroker(t, "--addr", "127.0.0.1:0", "--brokers", "3")
	if len(b.addrs) != 3 {
		t.Fatalf("ready file names %v, want 3 addresses", b.addrs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := newClient(t, b.addrs[2]).Metadata(ctx, &kafka.MetadataRequest{})
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata lists %d brokers, want 3: %+v", len(md.Brokers), md.Brokers)
	}
}

// With --data-dir a topic outlives a restart, as `make run`'s namespaces
// outlive a restart of the cluster.
func TestDataDirKeepsTopics(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b := startBroker(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err := createTopic(ctx, t, newClient(t, b.addrs[0]), "kept"); err != nil {
		t.Fatalf("create: %v", err)
	}
	b.shutdown(t)

	b = startBroker(t, "--addr", "127.0.0.1:0", "--data-dir", dir)
	if v, err := describeRetention(ctx, t, newClient(t, b.addrs[0]), "kept"); err != nil || v != "60000" {
		t.Fatalf("after restart: retention.ms = %q, %v; want the topic with 60000", v, err)
	}
}

// Bad flags are refused before anything listens, each problem named.
func TestRefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--brokers", "0", "--addr", "0.0.0.0:9092"}, []string{"--brokers", "advertised"}},
		{[]string{"--addr", ":9092"}, []string{"a host is required"}},
		{[]string{"--addr", "127.0.0.1:65535", "--brokers", "2"}, []string{"runs past 65535"}},
		{[]string{"--addr", "127.0.0.1:x"}, []string{"port must be"}},
		{[]string{"--log-level", "loud"}, []string{"--log-level"}},
		{[]string{"extra"}, []string{"unexpected argument"}},
	} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: accepted", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not mention %q", tc.args, err, w)
			}
		}
	}
}
