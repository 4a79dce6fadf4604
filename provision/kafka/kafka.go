package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/prism/controlplane/provision"
	"github.com/prism/controlplane/provision/plan"
)

// clientID names Prism to the brokers.
const clientID = "prism"

// Provisioner is the provision.Provisioner of plan.Kafka. It talks to the
// declared targets' brokers only.
type Provisioner struct {
	cfg     Config
	log     *slog.Logger
	targets map[string]provision.KafkaTarget
	// transport carries the admin calls, reusing connections; its cached
	// metadata serves routing only, never Observe.
	transport *kafkago.Transport

	mu     sync.Mutex
	closed bool
}

var _ provision.Provisioner = (*Provisioner)(nil)

// New is NewWithConfig with DefaultConfig.
func New(targets []provision.KafkaTarget, log *slog.Logger) *Provisioner {
	p, err := NewWithConfig(DefaultConfig(), targets, log)
	if err != nil {
		panic(err) // DefaultConfig is valid
	}
	return p
}

// NewWithConfig returns a provisioner of the targets. It connects to none
// yet. Close it to close its connections.
func NewWithConfig(cfg Config, targets []provision.KafkaTarget, log *slog.Logger) (*Provisioner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	p := &Provisioner{
		cfg:       cfg,
		log:       log.With("component", "provision-kafka"),
		targets:   make(map[string]provision.KafkaTarget, len(targets)),
		transport: newTransport(cfg, nil),
	}
	for _, t := range targets {
		p.targets[t.Name] = t
	}
	return p, nil
}

func newTransport(cfg Config, metadataTopics []string) *kafkago.Transport {
	return &kafkago.Transport{
		Dial:           (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		DialTimeout:    cfg.DialTimeout,
		ClientID:       clientID,
		MetadataTopics: metadataTopics,
	}
}

// Close closes the connections. Calls after Close fail.
func (p *Provisioner) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	p.transport.CloseIdleConnections()
}

var errClosed = errors.New("kafka: provisioner closed")

// call is one request's target and topic.
type call struct {
	p      *Provisioner
	target provision.KafkaTarget
	req    provision.Request
	topic  string
	client *kafkago.Client
}

func (p *Provisioner) call(req provision.Request) (*call, error) {
	r := req.Resource
	if r.Backend != plan.Kafka || r.Kind != plan.KindTopic || r.Topic == "" {
		return nil, fmt.Errorf("%w: kafka provisioner given %s %s %q", provision.ErrInvalid, r.Backend, r.Kind, r.Name())
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		return nil, errClosed
	}
	t, ok := p.targets[req.Target]
	if !ok {
		return nil, fmt.Errorf("%w: kafka target %q", provision.ErrTargetUnknown, req.Target)
	}
	if len(t.Brokers) == 0 {
		return nil, fmt.Errorf("%w: kafka target %q names no brokers", provision.ErrInvalid, t.Name)
	}
	return &call{
		p: p, target: t, req: req, topic: r.Topic,
		client: &kafkago.Client{Addr: kafkago.TCP(t.Brokers...), Timeout: p.cfg.RequestTimeout, Transport: p.transport},
	}, nil
}

func (c *call) wrap(what string, err error) error {
	return wrap(c.target.Name, what+" topic "+c.topic, err)
}

// retry runs op until it succeeds, fails with an answer that is not worth
// sending again, or has been sent cfg.Attempts times; the waits between
// double from cfg.Backoff.
func (c *call) retry(ctx context.Context, what string, op func() error) error {
	wait := c.p.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || !retriable(err) || attempt >= c.p.cfg.Attempts {
			return err
		}
		c.p.log.Debug("retrying", "op", what, "target", c.target.Name, "topic", c.topic, "attempt", attempt, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait *= 2
	}
}

// topicErr is the answer for this call's topic in a per-topic error map.
func (c *call) topicErr(errs map[string]error) error {
	err, ok := errs[c.topic]
	if !ok {
		return fmt.Errorf("no answer for topic %s in the response", c.topic)
	}
	return err
}

// Observe reports the topic as a broker sees it now.
func (p *Provisioner) Observe(ctx context.Context, req provision.Request) (provision.Observation, error) {
	c, err := p.call(req)
	if err != nil {
		return provision.Observation{}, err
	}
	return c.observe(ctx)
}

func (c *call) observe(ctx context.Context) (provision.Observation, error) {
	var o provision.Observation
	parts, rf, exists, err := c.metadata(ctx)
	if err != nil {
		return o, c.wrap("observe", err)
	}
	if !exists {
		return o, nil
	}
	configs, exists, err := c.configs(ctx)
	if err != nil || !exists {
		return o, err
	}
	o.Exists, o.Owner = true, provision.OwnerUnknown
	if !c.req.Owned {
		o.OwnerDetail = "Kafka records no owner, and Prism has no record of creating it"
	}
	o.Partitions, o.ReplicationFactor, o.Configs = parts, rf, configs
	o.Detail = fmt.Sprintf("topic %s: %d partitions, replication factor %d", c.topic, parts, rf)
	return o, nil
}

// metadata reads the topic's partitions and replication factor from a
// broker, not from a cache: a transport of its own, made for this one
// request, whose first metadata request (auto-creation off) is the
// answer.
func (c *call) metadata(ctx context.Context) (partitions, rf int32, exists bool, err error) {
	tr := newTransport(c.p.cfg, []string{c.topic})
	defer tr.CloseIdleConnections()
	client := &kafkago.Client{Addr: c.client.Addr, Timeout: c.p.cfg.RequestTimeout, Transport: tr}
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{c.topic}})
	if err != nil {
		return 0, 0, false, err
	}
	for _, t := range md.Topics {
		if t.Name != c.topic {
			continue
		}
		switch {
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
			return 0, 0, false, nil
		case t.Error != nil && !errors.Is(t.Error, kafkago.LeaderNotAvailable):
			return 0, 0, false, t.Error
		}
		for _, part := range t.Partitions {
			rf = max(rf, int32(len(part.Replicas)))
		}
		return int32(len(t.Partitions)), rf, true, nil
	}
	return 0, 0, false, nil
}

// managedKeys are the config keys Prism manages, sorted.
func (c *call) managedKeys() []string {
	keys := make([]string, 0, len(c.req.Resource.Configs))
	for k := range c.req.Resource.Configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// configs reads the current values of the managed keys; exists is false
// when the broker does not know the topic.
func (c *call) configs(ctx context.Context) (map[string]string, bool, error) {
	keys := c.managedKeys()
	if len(keys) == 0 {
		return nil, true, nil
	}
	var resp *kafkago.DescribeConfigsResponse
	err := c.retry(ctx, "describe configs", func() error {
		var err error
		resp, err = c.client.DescribeConfigs(ctx, &kafkago.DescribeConfigsRequest{
			Resources: []kafkago.DescribeConfigRequestResource{{
				ResourceType: kafkago.ResourceTypeTopic, ResourceName: c.topic, ConfigNames: keys,
			}},
		})
		if err != nil {
			return err
		}
		for _, r := range resp.Resources {
			if r.ResourceName == c.topic {
				return r.Error
			}
		}
		return fmt.Errorf("no answer for topic %s in the response", c.topic)
	})
	if errors.Is(err, kafkago.UnknownTopicOrPartition) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.wrap("describe configs of", err)
	}
	out := make(map[string]string, len(keys))
	for _, r := range resp.Resources {
		if r.ResourceName != c.topic {
			continue
		}
		for _, e := range r.ConfigEntries {
			if slices.Contains(keys, e.ConfigName) {
				out[e.ConfigName] = e.ConfigValue
			}
		}
	}
	return out, true, nil
}

// Ensure creates the topic when it is absent; when it exists and is
// Prism's (req.Owned) it adds partitions up to the plan's and sets the
// managed config keys that differ. Not Owned and existing: ErrForeign,
// untouched.
func (p *Provisioner) Ensure(ctx context.Context, req provision.Request) (provision.Observation, error) {
	c, err := p.call(req)
	if err != nil {
		return provision.Observation{}, err
	}
	o, err := c.observe(ctx)
	if err != nil {
		return o, err
	}
	if !o.Exists {
		created, err := c.create(ctx)
		if err != nil {
			return provision.Observation{}, err
		}
		if created {
			p.log.Info("created topic", "target", c.target.Name, "topic", c.topic, "partitions", req.Resource.Partitions, "namespace", req.Namespace)
			return c.settle(ctx, func(o provision.Observation) bool { return o.Exists })
		}
		// It exists after all (our own timed-out attempt, or another
		// leader's): Owned, so it is ours to bring to the plan.
		if o, err = c.observe(ctx); err != nil {
			return o, err
		}
		if !o.Exists {
			return o, c.wrap("create", errors.New("it exists, says the broker, but its metadata does not show it yet"))
		}
	}
	if !req.Owned {
		return provision.Observation{}, fmt.Errorf("%w: kafka target %q: topic %s exists and Prism has no record of creating it; left untouched",
			provision.ErrForeign, c.target.Name, c.topic)
	}
	grown := false
	if want := req.Resource.Partitions; want > o.Partitions {
		if grown, err = c.grow(ctx, want); err != nil {
			return provision.Observation{}, err
		}
	} else if want < o.Partitions && req.Resource.PartitionsExplicit {
		p.log.Debug("topic has more partitions than the spec; partitions never decrease", "topic", c.topic, "partitions", o.Partitions, "spec", want)
	}
	set := c.differing(o.Configs)
	if len(set) > 0 {
		if err := c.alter(ctx, set); err != nil {
			return provision.Observation{}, err
		}
		p.log.Info("set topic configs", "target", c.target.Name, "topic", c.topic, "configs", set, "namespace", req.Namespace)
	}
	if !grown && len(set) == 0 {
		return o, nil
	}
	want := req.Resource.Partitions
	return c.settle(ctx, func(o provision.Observation) bool {
		return o.Exists && o.Partitions >= want && len(c.differing(o.Configs)) == 0
	})
}

// settle observes until done says the change shows, or cfg.Settle has
// passed; then it returns what it last saw.
func (c *call) settle(ctx context.Context, done func(provision.Observation) bool) (provision.Observation, error) {
	deadline := time.Now().Add(c.p.cfg.Settle)
	wait := 20 * time.Millisecond
	for {
		o, err := c.observe(ctx)
		if err != nil || done(o) || time.Now().After(deadline) {
			return o, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return o, nil
		case <-t.C:
		}
		wait = min(2*wait, 500*time.Millisecond)
	}
}

// create sends CreateTopics. created is false when the topic already
// exists, which is ErrForeign unless the request is Owned.
func (c *call) create(ctx context.Context) (created bool, err error) {
	r := c.req.Resource
	rf := r.ReplicationFactor
	if rf == 0 {
		rf = c.target.ReplicationFactor
	}
	if rf == 0 {
		rf = -1 // the brokers' default.replication.factor
	}
	var entries []kafkago.ConfigEntry
	for _, k := range c.managedKeys() {
		entries = append(entries, kafkago.ConfigEntry{ConfigName: k, ConfigValue: r.Configs[k]})
	}
	err = c.retry(ctx, "create topic", func() error {
		resp, err := c.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
			Topic: c.topic, NumPartitions: int(r.Partitions), ReplicationFactor: int(rf), ConfigEntries: entries,
		}}})
		if err != nil {
			return err
		}
		return c.topicErr(resp.Errors)
	})
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, kafkago.TopicAlreadyExists) && c.req.Owned:
		return false, nil
	case errors.Is(err, kafkago.TopicAlreadyExists):
		return false, fmt.Errorf("%w: kafka target %q: topic %s already exists and Prism has no record of creating it; left untouched",
			provision.ErrForeign, c.target.Name, c.topic)
	}
	return false, c.wrap("create", err)
}

// grow raises the partition count to want. Each attempt first reads the
// count afresh, so a retry after a timed-out increase that was applied
// sends nothing (Kafka refuses a count that is not higher).
func (c *call) grow(ctx context.Context, want int32) (grown bool, err error) {
	err = c.retry(ctx, "create partitions", func() error {
		have, _, exists, err := c.metadata(ctx)
		if err != nil {
			return err
		}
		if !exists {
			return errors.New("the topic vanished while adding partitions")
		}
		if have >= want {
			return nil // a timed-out attempt did it, or someone else
		}
		grown = true // from here on the count may have changed
		resp, err := c.client.CreatePartitions(ctx, &kafkago.CreatePartitionsRequest{
			Topics: []kafkago.TopicPartitionsConfig{{Name: c.topic, Count: want}},
		})
		if err != nil {
			return err
		}
		if err := c.topicErr(resp.Errors); err != nil {
			return err
		}
		c.p.log.Info("added partitions", "target", c.target.Name, "topic", c.topic, "from", have, "to", want, "namespace", c.req.Namespace)
		return nil
	})
	if err != nil && errors.Is(err, kafkago.InvalidPartitionNumber) {
		// Refused as not higher: a concurrent increase got there first.
		if have, _, _, merr := c.metadata(ctx); merr == nil && have >= want {
			return true, nil
		}
	}
	if err != nil {
		return false, c.wrap(fmt.Sprintf("add partitions (to %d) to", want), err)
	}
	return grown, nil
}

// differing are the managed keys whose current value is not the plan's.
func (c *call) differing(current map[string]string) map[string]string {
	set := map[string]string{}
	for k, v := range c.req.Resource.Configs {
		if cur, ok := current[k]; !ok || cur != v {
			set[k] = v
		}
	}
	return set
}

// alter SETs the given keys only.
func (c *call) alter(ctx context.Context, set map[string]string) error {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := kafkago.IncrementalAlterConfigsRequestResource{ResourceType: kafkago.ResourceTypeTopic, ResourceName: c.topic}
	for _, k := range keys {
		res.Configs = append(res.Configs, kafkago.IncrementalAlterConfigsRequestConfig{
			Name: k, Value: set[k], ConfigOperation: kafkago.ConfigOperationSet,
		})
	}
	err := c.retry(ctx, "alter configs", func() error {
		resp, err := c.client.IncrementalAlterConfigs(ctx, &kafkago.IncrementalAlterConfigsRequest{
			Resources: []kafkago.IncrementalAlterConfigsRequestResource{res},
		})
		if err != nil {
			return err
		}
		for _, r := range resp.Resources {
			if r.ResourceName == c.topic {
				return r.Error
			}
		}
		return fmt.Errorf("no answer for topic %s in the response", c.topic)
	})
	if err != nil {
		return c.wrap("set "+strings.Join(keys, ", ")+" of", err)
	}
	return nil
}

// Delete asks Kafka to delete the topic when it is Prism's (req.Owned).
// Absent is success. It does not wait: Kafka deletes asynchronously.
func (p *Provisioner) Delete(ctx context.Context, req provision.Request) error {
	c, err := p.call(req)
	if err != nil {
		return err
	}
	if !req.Owned {
		return fmt.Errorf("%w: kafka target %q: Prism has no record of creating topic %s; not deleted", provision.ErrForeign, c.target.Name, c.topic)
	}
	err = c.retry(ctx, "delete topic", func() error {
		resp, err := c.client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{c.topic}})
		if err != nil {
			return err
		}
		return c.topicErr(resp.Errors)
	})
	switch {
	case err == nil:
		p.log.Info("deleting topic", "target", c.target.Name, "topic", c.topic, "namespace", req.Namespace)
		return nil
	case errors.Is(err, kafkago.UnknownTopicOrPartition):
		return nil
	}
	return c.wrap("delete", err)
}

// Release has nothing to do: Kafka holds no record of Prism's to mark.
func (p *Provisioner) Release(ctx context.Context, req provision.Request) error {
	_, err := p.call(req)
	return err
}
