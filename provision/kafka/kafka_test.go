package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/prism/controlplane/internal/leakcheck"
	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/kafka"
	"github.com/prism/controlplane/provision/plan"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testConfig() kafka.Config {
	cfg := kafka.DefaultConfig()
	cfg.Backoff = 10 * time.Millisecond
	cfg.DialTimeout = time.Second
	cfg.RequestTimeout = 5 * time.Second
	return cfg
}

func newProv(t *testing.T, brokers []string, cfg kafka.Config) *kafka.Provisioner {
	t.Helper()
	return newProvTarget(t, provision.KafkaTarget{Name: provision.DefaultTarget, Brokers: brokers}, cfg)
}

func newProvTarget(t *testing.T, target provision.KafkaTarget, cfg kafka.Config) *kafka.Provisioner {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, err := kafka.NewWithConfig(cfg, []provision.KafkaTarget{target}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

const week = "604800000"

// req is an Owned request for a topic with partitions and retention.ms.
func req(topic string, partitions int32, retention string) provision.Request {
	return provision.Request{
		ClusterID: "cluster-a", Namespace: topic, CreateRevision: 3, Target: provision.DefaultTarget, Owned: true,
		Resource: plan.Resource{
			Backend: plan.Kafka, Kind: plan.KindTopic, Topic: topic, Partitions: partitions,
			Configs: map[string]string{plan.RetentionKey: retention},
		},
	}
}

// broker is an independent view of the cluster: a client of its own,
// with a fresh transport per call so nothing is cached.
type broker struct {
	t     *testing.T
	addrs []string
}

func (b broker) client() (*kafkago.Client, func()) {
	tr := &kafkago.Transport{}
	return &kafkago.Client{Addr: kafkago.TCP(b.addrs...), Timeout: 5 * time.Second, Transport: tr}, tr.CloseIdleConnections
}

// topics lists the cluster's topics with their partition counts.
func (b broker) topics() map[string]int {
	b.t.Helper()
	c, done := b.client()
	defer done()
	md, err := c.Metadata(ctx(b.t), &kafkago.MetadataRequest{})
	if err != nil {
		b.t.Fatal(err)
	}
	out := map[string]int{}
	for _, tp := range md.Topics {
		out[tp.Name] = len(tp.Partitions)
	}
	return out
}

// config reads one config value of a topic.
func (b broker) config(topic, key string) string {
	b.t.Helper()
	c, done := b.client()
	defer done()
	resp, err := c.DescribeConfigs(ctx(b.t), &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{key},
	}}})
	if err != nil || resp.Resources[0].Error != nil {
		b.t.Fatalf("describe %s: %v %v", topic, err, resp.Resources[0].Error)
	}
	for _, e := range resp.Resources[0].ConfigEntries {
		if e.ConfigName == key {
			return e.ConfigValue
		}
	}
	return ""
}

func (b broker) create(topic string, partitions int, configs ...kafkago.ConfigEntry) {
	b.t.Helper()
	c, done := b.client()
	defer done()
	resp, err := c.CreateTopics(ctx(b.t), &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: 1, ConfigEntries: configs,
	}}})
	if err != nil || resp.Errors[topic] != nil {
		b.t.Fatalf("create %s: %v %v", topic, err, resp.Errors[topic])
	}
}

func (b broker) set(topic, key, value string) {
	b.t.Helper()
	c, done := b.client()
	defer done()
	resp, err := c.IncrementalAlterConfigs(ctx(b.t), &kafkago.IncrementalAlterConfigsRequest{Resources: []kafkago.IncrementalAlterConfigsRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic,
		Configs: []kafkago.IncrementalAlterConfigsRequestConfig{{Name: key, Value: value, ConfigOperation: kafkago.ConfigOperationSet}},
	}}})
	if err != nil || resp.Resources[0].Error != nil {
		b.t.Fatalf("set %s %s: %v", topic, key, err)
	}
}

// counter counts the requests of a key the cluster receives, without
// answering them.
func counter(c *kfake.Cluster, key kmsg.Key) *atomic.Int32 {
	n := new(atomic.Int32)
	c.ControlKey(int16(key), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		n.Add(1)
		return nil, nil, false
	})
	return n
}

func TestEnsureCreatesTheTopic(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("video-events", 20, week)
	if o, err := p.Observe(ctx(t), r); err != nil || o.Exists || o.Owner != provision.OwnerNone {
		t.Fatalf("Observe before Ensure: %+v %v", o, err)
	}
	o, err := p.Ensure(ctx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	want := provision.Observation{
		Exists: true, Owner: provision.OwnerUnknown, Partitions: 20, ReplicationFactor: 1,
		Configs: map[string]string{plan.RetentionKey: week},
		Detail:  "topic video-events: 20 partitions, replication factor 1",
	}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("Ensure:\n got %+v\nwant %+v", o, want)
	}
	if got := b.topics(); !reflect.DeepEqual(got, map[string]int{"video-events": 20}) {
		t.Fatalf("topics on the broker: %v", got)
	}
	if got := b.config("video-events", plan.RetentionKey); got != week {
		t.Fatalf("retention.ms on the broker: %q", got)
	}
}

func TestEnsureUsesTheTargetsReplicationFactor(t *testing.T) {
	c := newCluster(t, kfake.NumBrokers(3))
	p := newProvTarget(t, provision.KafkaTarget{Name: provision.DefaultTarget, Brokers: c.ListenAddrs(), ReplicationFactor: 2}, testConfig())
	o, err := p.Ensure(ctx(t), req("replicated", 3, "-1"))
	if err != nil || o.ReplicationFactor != 2 || o.Partitions != 3 {
		t.Fatalf("Ensure with the target's replication factor 2: %+v %v", o, err)
	}
	r := req("replicated-3", 1, "-1")
	r.Resource.ReplicationFactor = 3
	if o, err = p.Ensure(ctx(t), r); err != nil || o.ReplicationFactor != 3 {
		t.Fatalf("Ensure with the plan's replication factor 3: %+v %v", o, err)
	}
	r = req("replicated-4", 1, "-1")
	r.Resource.ReplicationFactor = 4
	if _, err = p.Ensure(ctx(t), r); !errors.Is(err, provision.ErrInvalid) || provision.Retriable(err) {
		t.Fatalf("Ensure with a replication factor above the broker count: %v", err)
	}
}

func TestEnsureRepeatedIsOneTopicAndSendsNothing(t *testing.T) {
	c := newCluster(t)
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("orders", 4, week)
	first, err := p.Ensure(ctx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	creates, parts, alters := counter(c, kmsg.CreateTopics), counter(c, kmsg.CreatePartitions), counter(c, kmsg.IncrementalAlterConfigs)
	for range 3 {
		o, err := p.Ensure(ctx(t), r)
		if err != nil || !reflect.DeepEqual(o, first) {
			t.Fatalf("repeated Ensure: %+v %v; first %+v", o, err, first)
		}
	}
	if n := creates.Load() + parts.Load() + alters.Load(); n != 0 {
		t.Fatalf("repeating Ensure sent %d changes", n)
	}
	if got := (broker{t, c.ListenAddrs()}).topics(); len(got) != 1 {
		t.Fatalf("topics: %v", got)
	}
}

func TestEnsureGrowsPartitionsAndSetsOnlyManagedKeys(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("video-events", 20, week)
	r.Resource.Configs["cleanup.policy"] = "delete"
	if _, err := p.Ensure(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	b.set("video-events", "segment.ms", "3600000") // not Prism's: must stay

	var altered [][]string
	var mu sync.Mutex
	c.ControlKey(int16(kmsg.IncrementalAlterConfigs), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		var names []string
		for _, res := range kr.(*kmsg.IncrementalAlterConfigsRequest).Resources {
			for _, cfg := range res.Configs {
				names = append(names, fmt.Sprintf("%s %v %s", cfg.Name, cfg.Op, *cfg.Value))
			}
		}
		mu.Lock()
		altered = append(altered, names)
		mu.Unlock()
		return nil, nil, false
	})
	parts := counter(c, kmsg.CreatePartitions)

	r.Resource.Partitions = 24
	r.Resource.Configs[plan.RetentionKey] = "86400000"
	o, err := p.Ensure(ctx(t), r)
	if err != nil {
		t.Fatal(err)
	}
	if o.Partitions != 24 || o.Configs[plan.RetentionKey] != "86400000" || o.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("Ensure after the update: %+v", o)
	}
	// Observe right away reads the broker, not a cache.
	if o, err := p.Observe(ctx(t), r); err != nil || o.Partitions != 24 {
		t.Fatalf("Observe right after the update: %+v %v", o, err)
	}
	if b.topics()["video-events"] != 24 || b.config("video-events", plan.RetentionKey) != "86400000" {
		t.Fatal("the broker does not show the update")
	}
	if got := b.config("video-events", "segment.ms"); got != "3600000" {
		t.Fatalf("an unmanaged key changed: segment.ms = %q", got)
	}
	mu.Lock()
	if want := [][]string{{"retention.ms SET 86400000"}}; !reflect.DeepEqual(altered, want) {
		t.Fatalf("IncrementalAlterConfigs sent %v, want %v (only the managed key that differs)", altered, want)
	}
	mu.Unlock()
	if parts.Load() != 1 {
		t.Fatalf("%d CreatePartitions requests for one increase", parts.Load())
	}

	// Fewer partitions derived from a smaller capacity: partitions never
	// decrease, and an equal or lower count is never sent.
	for _, n := range []int32{24, 10} {
		r.Resource.Partitions = n
		if o, err := p.Ensure(ctx(t), r); err != nil || o.Partitions != 24 {
			t.Fatalf("Ensure with %d partitions: %+v %v", n, o, err)
		}
	}
	if parts.Load() != 1 {
		t.Fatal("Ensure sent CreatePartitions without a higher count")
	}
}

func TestForeignTopicIsRefusedAndUntouched(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	b.create("handmade", 3, kafkago.ConfigEntry{ConfigName: plan.RetentionKey, ConfigValue: "1000"})
	r := req("handmade", 6, week)
	r.Owned = false
	o, err := p.Observe(ctx(t), r)
	if err != nil || !o.Exists || o.Owner != provision.OwnerUnknown || !strings.Contains(o.OwnerDetail, "no record") {
		t.Fatalf("Observe of a hand-made topic: %+v %v", o, err)
	}
	if _, err := p.Ensure(ctx(t), r); !errors.Is(err, provision.ErrForeign) || !strings.Contains(err.Error(), "handmade") {
		t.Fatalf("Ensure of a hand-made topic: %v", err)
	}
	if err := p.Delete(ctx(t), r); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("Delete of a hand-made topic: %v", err)
	}
	if b.topics()["handmade"] != 3 || b.config("handmade", plan.RetentionKey) != "1000" {
		t.Fatal("the hand-made topic changed")
	}
}

// A broker that answers TOPIC_ALREADY_EXISTS to a create: foreign unless
// the controller recorded the topic as Prism's.
func TestAlreadyExistsOnCreate(t *testing.T) {
	c := newCluster(t)
	p := newProv(t, c.ListenAddrs(), testConfig())
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "raced", Err: kerr.TopicAlreadyExists})
	r := req("raced", 2, week)
	r.Owned = false
	if _, err := p.Ensure(ctx(t), r); !errors.Is(err, provision.ErrForeign) {
		t.Fatalf("not Owned, told it already exists: %v", err)
	}
	// Owned, and the topic (made by a predecessor) does exist.
	// The broker's metadata first hides it, so Ensure tries to create it.
	broker{t, c.ListenAddrs()}.create("raced-owned", 2)
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Metadata}, Topic: "raced-owned", Err: kerr.UnknownTopicOrPartition})
	creates := counter(c, kmsg.CreateTopics)
	o, err := p.Ensure(ctx(t), req("raced-owned", 2, week))
	if err != nil || !o.Exists || o.Configs[plan.RetentionKey] != week {
		t.Fatalf("Owned, told it already exists: %+v %v", o, err)
	}
	if h.Hits() != 1 || creates.Load() != 1 {
		t.Fatalf("metadata hid the topic %d times, %d creates sent; want 1 and 1", h.Hits(), creates.Load())
	}
}

func TestDeleteAndRelease(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	kept, gone := req("kept", 1, week), req("gone", 1, week)
	for _, r := range []provision.Request{kept, gone} {
		if _, err := p.Ensure(ctx(t), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Release(ctx(t), kept); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Delete(ctx(t), gone); err != nil {
			t.Fatalf("Delete: %v", err)
		}
	}
	if got := b.topics(); !reflect.DeepEqual(got, map[string]int{"kept": 1}) {
		t.Fatalf("topics after Release of one and Delete of the other: %v", got)
	}
	if o, err := p.Observe(ctx(t), gone); err != nil || o.Exists {
		t.Fatalf("Observe after Delete: %+v %v", o, err)
	}
}

// A topic deleted behind Prism's back is reported missing; Ensure (the
// controller's --recreate) makes it again.
func TestDeletedBehindPrismsBack(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("drift", 3, week)
	if _, err := p.Ensure(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	cl, done := b.client()
	resp, err := cl.DeleteTopics(ctx(t), &kafkago.DeleteTopicsRequest{Topics: []string{"drift"}})
	done()
	if err != nil || resp.Errors["drift"] != nil {
		t.Fatalf("delete by hand: %v %v", err, resp.Errors)
	}
	if o, err := p.Observe(ctx(t), r); err != nil || o.Exists {
		t.Fatalf("Observe of a topic deleted by hand: %+v %v", o, err)
	}
	if o, err := p.Ensure(ctx(t), r); err != nil || o.Partitions != 3 {
		t.Fatalf("Ensure after drift: %+v %v", o, err)
	}
}

// Observe must never create a topic, even on a cluster that auto-creates
// topics on metadata requests that allow it.
func TestObserveNeverAutoCreates(t *testing.T) {
	c := newCluster(t, kfake.AllowAutoTopicCreation())
	var asked atomic.Int32
	c.ControlKey(int16(kmsg.Metadata), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if m := kr.(*kmsg.MetadataRequest); m.AllowAutoTopicCreation || m.Version < 4 {
			asked.Add(1)
		}
		return nil, nil, false
	})
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("absent", 3, week)
	for range 3 {
		if o, err := p.Observe(ctx(t), r); err != nil || o.Exists {
			t.Fatalf("Observe of an absent topic: %+v %v", o, err)
		}
	}
	if err := p.Delete(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	if n := asked.Load(); n != 0 {
		t.Fatalf("%d metadata requests could auto-create", n)
	}
	if got := (broker{t, c.ListenAddrs()}).topics(); len(got) != 0 {
		t.Fatalf("topics: %v", got)
	}
}

func TestNotControllerIsRetried(t *testing.T) {
	c := newCluster(t)
	p := newProv(t, c.ListenAddrs(), testConfig())
	var answered atomic.Int32
	notController := func(kr kmsg.Request) (kmsg.Response, error, bool) {
		answered.Add(1)
		req := kr.(*kmsg.CreateTopicsRequest)
		resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic = rt.Topic
			st.ErrorCode = kerr.NotController.Code
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	}
	c.ControlKey(int16(kmsg.CreateTopics), notController)
	creates := counter(c, kmsg.CreateTopics)
	o, err := p.Ensure(ctx(t), req("retried", 5, week))
	if err != nil || o.Partitions != 5 {
		t.Fatalf("Ensure after one NOT_CONTROLLER: %+v %v", o, err)
	}
	// The first control answers one request; the counter sees the rest.
	if answered.Load() != 1 || creates.Load() != 1 {
		t.Fatalf("NOT_CONTROLLER answered %d, then %d more sent", answered.Load(), creates.Load())
	}

	// Always NOT_CONTROLLER: transient after Attempts sends.
	c.ControlKey(int16(kmsg.CreateTopics), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return notController(kr)
	})
	answered.Store(0)
	_, err = p.Ensure(ctx(t), req("never", 5, week))
	if !errors.Is(err, provision.ErrTransient) || !errors.Is(err, kafkago.NotController) || answered.Load() != int32(testConfig().Attempts) {
		t.Fatalf("Ensure answered NOT_CONTROLLER %d times: %v", answered.Load(), err)
	}
}

// REQUEST_TIMED_OUT: the broker may have done the work. The retry of a
// create finds the topic; the retry of a partition increase sends none.
func TestRequestTimedOutIsRetriedWithoutDoingItTwice(t *testing.T) {
	c := newCluster(t)
	b := broker{t, c.ListenAddrs()}
	p := newProv(t, c.ListenAddrs(), testConfig())
	h := c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: "slow", Err: kerr.RequestTimedOut})
	o, err := p.Ensure(ctx(t), req("slow", 8, week))
	if err != nil || o.Partitions != 8 || h.Hits() != 1 {
		t.Fatalf("Ensure after a timed-out create (%d faults): %+v %v", h.Hits(), o, err)
	}
	if got := b.topics(); !reflect.DeepEqual(got, map[string]int{"slow": 8}) {
		t.Fatalf("topics: %v", got)
	}

	parts := counter(c, kmsg.CreatePartitions)
	h = c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreatePartitions}, Topic: "slow", Err: kerr.RequestTimedOut})
	o, err = p.Ensure(ctx(t), req("slow", 12, week))
	if err != nil || o.Partitions != 12 || h.Hits() != 1 {
		t.Fatalf("Ensure after a timed-out increase: %+v %v", o, err)
	}
	if parts.Load() != 1 {
		t.Fatalf("%d CreatePartitions sent; the retry should have found 12 already", parts.Load())
	}

	// Timed out every time: transient.
	c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.DeleteTopics}, Topic: "slow", Err: kerr.RequestTimedOut, Count: -1})
	if err := p.Delete(ctx(t), req("slow", 12, week)); !errors.Is(err, provision.ErrTransient) || !provision.Retriable(err) {
		t.Fatalf("Delete timed out every time: %v", err)
	}
}

// A broker that does not answer within the request timeout.
func TestNoAnswerIsUnreachable(t *testing.T) {
	c := newCluster(t)
	release := make(chan struct{})
	c.ControlKey(int16(kmsg.DescribeConfigs), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	t.Cleanup(func() { close(release) })
	cfg := testConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	p := newProv(t, c.ListenAddrs(), cfg)
	broker{t, c.ListenAddrs()}.create("silent", 1)
	start := time.Now()
	_, err := p.Observe(ctx(t), req("silent", 1, week))
	if !errors.Is(err, provision.ErrUnreachable) || time.Since(start) > 5*time.Second {
		t.Fatalf("Observe of a broker that does not answer: %v after %s", err, time.Since(start))
	}
}

func TestRefusalsAreTerminal(t *testing.T) {
	c := newCluster(t)
	p := newProv(t, c.ListenAddrs(), testConfig())
	for _, tc := range []struct {
		code *kerr.Error
		want error
	}{
		{kerr.TopicAuthorizationFailed, provision.ErrPermission},
		{kerr.ClusterAuthorizationFailed, provision.ErrPermission},
		{kerr.InvalidConfig, provision.ErrInvalid},
		{kerr.PolicyViolation, provision.ErrInvalid},
		{kerr.InvalidPartitions, provision.ErrInvalid},
	} {
		topic := strings.ToLower(strings.ReplaceAll(tc.code.Message, "_", "-"))
		c.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.CreateTopics}, Topic: topic, Err: tc.code})
		_, err := p.Ensure(ctx(t), req(topic, 1, week))
		if !errors.Is(err, tc.want) || provision.Retriable(err) {
			t.Errorf("%s: %v", tc.code.Message, err)
		}
	}
}

func TestServerDownThenBack(t *testing.T) {
	port := freePort(t)
	c := newCluster(t, kfake.Ports(port))
	p := newProv(t, c.ListenAddrs(), testConfig())
	r := req("resilient", 2, week)
	if _, err := p.Ensure(ctx(t), r); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, call := range []struct {
		name string
		fn   func() error
	}{
		{"Observe", func() error { _, err := p.Observe(ctx(t), r); return err }},
		{"Ensure", func() error { _, err := p.Ensure(ctx(t), r); return err }},
	} {
		start := time.Now()
		err := call.fn()
		if !errors.Is(err, provision.ErrUnreachable) || time.Since(start) > 5*time.Second {
			t.Fatalf("%s with the broker down: %v after %s", call.name, err, time.Since(start))
		}
		t.Logf("%s with the broker down: %v", call.name, err)
	}
	// Delete goes through the shared transport, whose connection is gone.
	if err := p.Delete(ctx(t), r); !errors.Is(err, provision.ErrUnreachable) {
		t.Fatalf("Delete with the broker down: %v", err)
	}

	// Back on the same port (empty: kfake keeps nothing).
	newCluster(t, kfake.Ports(port))
	deadline := time.Now().Add(20 * time.Second)
	for {
		o, err := p.Ensure(ctx(t), r)
		if err == nil {
			if o.Partitions != 2 {
				t.Fatalf("after restart: %+v", o)
			}
			break
		}
		if !provision.Retriable(err) || time.Now().After(deadline) {
			t.Fatalf("Ensure after restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDeadPortIsUnreachable(t *testing.T) {
	p := newProv(t, []string{fmt.Sprintf("127.0.0.1:%d", freePort(t))}, testConfig())
	r := req("nowhere", 1, week)
	if _, err := p.Observe(ctx(t), r); !errors.Is(err, provision.ErrUnreachable) {
		t.Fatalf("Observe: %v", err)
	}
	if _, err := p.Ensure(ctx(t), r); !errors.Is(err, provision.ErrUnreachable) {
		t.Fatalf("Ensure: %v", err)
	}
	if err := p.Delete(ctx(t), r); !errors.Is(err, provision.ErrUnreachable) {
		t.Fatalf("Delete: %v", err)
	}
}

func TestConcurrentEnsureMakesOneTopic(t *testing.T) {
	c := newCluster(t)
	p := newProv(t, c.ListenAddrs(), testConfig())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			o, err := p.Ensure(ctx(t), req("hot", 6, week))
			if err == nil && o.Partitions != 6 {
				err = fmt.Errorf("partitions %d", o.Partitions)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := (broker{t, c.ListenAddrs()}).topics(); !reflect.DeepEqual(got, map[string]int{"hot": 6}) {
		t.Fatalf("topics: %v", got)
	}
}

func TestTargets(t *testing.T) {
	p := kafka.New(nil, nil)
	defer p.Close()
	r := req("x", 1, week)
	if _, err := p.Observe(context.Background(), r); !errors.Is(err, provision.ErrTargetUnknown) {
		t.Fatalf("undeclared target: %v", err)
	}
	r.Resource.Backend = plan.Postgres
	if err := p.Delete(context.Background(), r); !errors.Is(err, provision.ErrInvalid) {
		t.Fatalf("a Postgres resource: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
