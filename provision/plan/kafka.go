package plan

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// KafkaKeys are the settings of backend_config.kafka.
var KafkaKeys = []string{"bootstrap_servers", "configs", "partitions", "replication_factor", "target", "topic"}

// Partition bounds. Derived counts are capped lower than explicit ones: a
// capacity typo should not make ten thousand partitions.
const (
	WriteRPSPerPartition = 500 // ADR-002
	MaxPartitions        = 10000
	MaxDerivedPartitions = 1000
	MaxReplicationFactor = 32
)

// RetentionKey is the topic config policies.retention_days sets.
const RetentionKey = "retention.ms"

var (
	topicRE     = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
	configKeyRE = regexp.MustCompile(`^[a-z][a-z0-9.]*[a-z0-9]$`)
)

// Partitions derived from capacity: ceil(estimated_write_rps / 500), at
// least 1.
func DerivedPartitions(writeRPS int64) int32 {
	n := (writeRPS + WriteRPSPerPartition - 1) / WriteRPSPerPartition
	switch {
	case n < 1:
		n = 1
	case n > MaxDerivedPartitions:
		n = MaxDerivedPartitions
	}
	return int32(n)
}

// RetentionMS is retention.ms for a spec's retention_days: -1 (keep
// forever) when unset.
func RetentionMS(days *int64) string {
	if days == nil {
		return "-1"
	}
	return strconv.FormatInt(*days*86_400_000, 10)
}

func (b *builder) kafka() {
	m := b.settings(Kafka, KafkaKeys)
	r := Resource{Backend: Kafka, Kind: KindTopic, Topic: b.spec.GetName()}
	r.Target = b.kafkaTarget(m)
	if t := b.str(m, Kafka, "topic"); t != "" {
		r.Topic = t
	}
	if !topicRE.MatchString(r.Topic) || r.Topic == "." || r.Topic == ".." {
		b.add(path(Kafka, "topic"), "must be 1-249 of a-z, A-Z, 0-9, '.', '_', '-', and not \".\" or \"..\"")
	}
	if p, set := b.integer(m, Kafka, "partitions", 1, MaxPartitions); set {
		r.Partitions, r.PartitionsExplicit = int32(p), true
	} else {
		r.Partitions = DerivedPartitions(b.spec.GetCapacity().GetEstimatedWriteRps())
	}
	if rf, set := b.integer(m, Kafka, "replication_factor", 1, MaxReplicationFactor); set {
		r.ReplicationFactor = int32(rf)
	}
	var days *int64
	if pol := b.spec.GetPolicies(); pol != nil {
		days = pol.RetentionDays
	}
	if days != nil && *days > 1<<40 {
		b.add("policies.retention_days", "is too large for retention.ms")
	}
	r.Configs = map[string]string{RetentionKey: RetentionMS(days)}
	b.configs(m, r.Configs)
	b.plan.Resources = append(b.plan.Resources, r)
}

// configs merges backend_config.kafka.configs (string, number or bool
// values) into out.
func (b *builder) configs(m map[string]any, out map[string]string) {
	v, ok := m["configs"]
	if !ok || v == nil {
		return
	}
	cm, ok := v.(map[string]any)
	if !ok {
		b.add(path(Kafka, "configs"), "must be a mapping of topic config keys to values")
		return
	}
	keys := make([]string, 0, len(cm))
	for k := range cm {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := path(Kafka, "configs") + "." + k
		if !configKeyRE.MatchString(k) || len(k) > 128 {
			p = path(Kafka, "configs") + "[" + strconv.Quote(k) + "]"
			b.add(p, "is not a topic config key (lowercase words joined by '.')")
			continue
		}
		if k == RetentionKey {
			b.add(p, "is set by policies.retention_days; set it there")
			continue
		}
		switch val := cm[k].(type) {
		case string:
			out[k] = val
		case bool:
			out[k] = strconv.FormatBool(val)
		case interface{ String() string }: // json.Number
			out[k] = val.String()
		default:
			b.add(p, "must be a string, number or boolean")
		}
	}
}

// kafkaTarget reads target or bootstrap_servers (a comma list or a
// sequence of host:port).
func (b *builder) kafkaTarget(m map[string]any) TargetRef {
	name := b.str(m, Kafka, "target")
	var brokers []string
	switch v := m["bootstrap_servers"].(type) {
	case nil:
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				brokers = append(brokers, s)
			}
		}
	case []any:
		for _, x := range v {
			s, ok := x.(string)
			if !ok || s == "" {
				b.add(path(Kafka, "bootstrap_servers"), "must be host:port strings")
				return TargetRef{}
			}
			brokers = append(brokers, s)
		}
	default:
		b.add(path(Kafka, "bootstrap_servers"), "must be a comma list or a sequence of host:port")
	}
	if _, ok := m["bootstrap_servers"]; ok && m["bootstrap_servers"] != nil && len(brokers) == 0 {
		b.add(path(Kafka, "bootstrap_servers"), "must name at least one broker")
	}
	for _, s := range brokers {
		if strings.Contains(s, "@") {
			b.add(path(Kafka, "bootstrap_servers"), "must be host:port only (no credentials)")
			return TargetRef{}
		}
	}
	if name != "" && len(brokers) > 0 {
		b.add(path(Kafka, "target"), "give target or bootstrap_servers, not both")
	}
	if name != "" {
		return TargetRef{Name: name}
	}
	sort.Strings(brokers)
	return TargetRef{Brokers: brokers}
}
