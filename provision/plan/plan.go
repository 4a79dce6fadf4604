package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// Backends with a provisioner, and the kinds of resource they get.
const (
	Postgres = "postgres"
	Kafka    = "kafka"

	KindTable = "table"
	KindTopic = "topic"
)

// Abstractions each provisioned backend can serve, sorted.
var Abstractions = map[string][]string{
	Postgres: {"document", "keyvalue", "queue", "timeseries"},
	Kafka:    {"pubsub", "queue", "timeseries"},
}

// known are every abstraction a namespace may declare.
var known = []string{"document", "graph", "keyvalue", "pubsub", "queue", "timeseries"}

// Provisioned reports whether Prism provisions resources for a backend.
// Other backends are accepted, and their namespaces stay provisioning with
// a reason that says no provisioner serves them.
func Provisioned(backend string) bool { _, ok := Abstractions[backend]; return ok }

// Plan is what one namespace needs: zero or more resources (zero for a
// backend Prism does not provision).
type Plan struct {
	Resources []Resource
}

// Resource is one backend resource of a plan.
type Resource struct {
	Backend string // Postgres or Kafka
	Kind    string // KindTable or KindTopic
	Target  TargetRef

	// Postgres.
	Schema  string
	Table   string
	Columns []Column

	// Kafka.
	Topic string
	// Partitions: the count the spec asks for. When PartitionsExplicit is
	// false it was derived from capacity and is a minimum: partitions
	// never decrease.
	Partitions         int32
	PartitionsExplicit bool
	// ReplicationFactor 0 means the target's default.
	ReplicationFactor int32
	// Configs are the topic configs Prism manages (retention.ms and the
	// spec's configs); other keys of the topic are left alone.
	Configs map[string]string
}

// Column is one column of a planned table.
type Column struct {
	Name string
	Type string // SQL type with its constraints, e.g. "text NOT NULL"
}

// Name is the resource's physical name: "schema.table" or the topic.
func (r Resource) Name() string {
	if r.Kind == KindTable {
		return r.Schema + "." + r.Table
	}
	return r.Topic
}

// NameField is the namespace file's path of the setting that names the
// resource.
func (r Resource) NameField() string {
	if r.Kind == KindTable {
		return "backend_config.postgres.table_name"
	}
	return "backend_config.kafka.topic"
}

// Key identifies the resource across namespaces: two live namespaces
// must never claim the same key.
func (r Resource) Key() string {
	return r.Backend + "|" + r.Target.Key() + "|" + r.Name()
}

// Hash fingerprints the settings Prism applies, so a reconciler can tell
// that an active namespace's spec now asks for something else.
func (r Resource) Hash() string {
	b, _ := json.Marshal(struct {
		C []Column
		P int32
		E bool
		R int32
		K map[string]string
	}{r.Columns, r.Partitions, r.PartitionsExplicit, r.ReplicationFactor, r.Configs})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// TargetRef is how a namespace names the server its resources live on:
// a declared target's Name, or a connection string or bootstrap servers
// that must match a declared target, or nothing (the default target).
type TargetRef struct {
	Name string
	// Postgres connection_string, parsed (never holds a password).
	Host, Port, Database string
	// Kafka bootstrap_servers.
	Brokers []string
}

// Default reports whether the ref names no server (the default target).
func (t TargetRef) Default() bool {
	return t.Name == "" && t.Host == "" && t.Port == "" && t.Database == "" && len(t.Brokers) == 0
}

// Key renders the ref canonically.
func (t TargetRef) Key() string {
	switch {
	case t.Name != "":
		return "target=" + t.Name
	case len(t.Brokers) > 0:
		return "brokers=" + strings.Join(t.Brokers, ",")
	case t.Host != "" || t.Database != "":
		return "postgres=" + t.Host + ":" + t.Port + "/" + t.Database
	}
	return "default"
}

// String describes the ref for status reasons.
func (t TargetRef) String() string {
	switch {
	case t.Name != "":
		return "target " + strconv.Quote(t.Name)
	case len(t.Brokers) > 0:
		return "bootstrap servers " + strings.Join(t.Brokers, ",")
	case t.Host != "" || t.Database != "":
		s := "postgres server " + t.Host
		if t.Port != "" {
			s += ":" + t.Port
		}
		return s + " database " + strconv.Quote(t.Database)
	}
	return "the default target"
}

// For is the plan of a spec. A spec that fails Check gives a plan that may
// be incomplete; callers validate first.
func For(s *fsmpb.NamespaceSpec) Plan {
	p, _ := build(s)
	return p
}

// Check returns every problem a provisioned backend has with the spec
// (abstraction, backend_config keys and values, passwords), with the field
// paths of the namespace file. Backends Prism does not provision are not
// checked here.
func Check(s *fsmpb.NamespaceSpec) []Problem {
	_, probs := build(s)
	return probs
}

// Problem is one field error of a spec.
type Problem struct {
	Path    string
	Message string
}

func build(s *fsmpb.NamespaceSpec) (Plan, []Problem) {
	b := &builder{spec: s}
	switch s.GetBackend() {
	case Postgres:
		b.abstraction(Postgres)
		b.postgres()
	case Kafka:
		b.abstraction(Kafka)
		b.kafka()
	}
	return b.plan, b.probs
}

type builder struct {
	spec  *fsmpb.NamespaceSpec
	plan  Plan
	probs []Problem
}

func (b *builder) add(path, msg string) { b.probs = append(b.probs, Problem{Path: path, Message: msg}) }

func (b *builder) abstraction(backend string) {
	a := b.spec.GetAbstraction()
	can := Abstractions[backend]
	if !contains(known, a) {
		return // the spec validator reports a missing or unknown abstraction
	}
	for _, c := range can {
		if c == a {
			return
		}
	}
	b.add("abstraction", backend+" cannot serve "+strconv.Quote(a)+"; it serves "+strings.Join(can, ", "))
}

// settings returns backend_config.<backend> (nil when absent or not a
// mapping; the spec validator reports the latter), and reports keys
// outside allowed.
func (b *builder) settings(backend string, allowed []string) map[string]any {
	all := map[string]any{}
	if raw := b.spec.GetBackendConfigJson(); len(raw) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.UseNumber()
		if dec.Decode(&all) != nil {
			return nil
		}
	}
	m, _ := all[backend].(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(allowed, k) {
			b.add(path(backend, k), "unknown setting (known: "+strings.Join(allowed, ", ")+")")
		}
	}
	return m
}

func path(backend, key string) string { return "backend_config." + backend + "." + key }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads an optional string setting.
func (b *builder) str(m map[string]any, backend, key string) string {
	v, ok := m[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		b.add(path(backend, key), "must be a string")
		return ""
	}
	if s == "" {
		b.add(path(backend, key), "must not be empty when set")
	}
	return s
}

// integer reads an optional integer setting in [lo, hi]; set reports
// whether it was given.
func (b *builder) integer(m map[string]any, backend, key string, lo, hi int64) (int64, bool) {
	v, ok := m[key]
	if !ok || v == nil {
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		b.add(path(backend, key), "must be an integer")
		return 0, false
	}
	i, err := strconv.ParseInt(n.String(), 10, 64)
	if err != nil {
		b.add(path(backend, key), "must be an integer (got "+n.String()+")")
		return 0, false
	}
	if i < lo || i > hi {
		b.add(path(backend, key), "must be between "+strconv.FormatInt(lo, 10)+" and "+strconv.FormatInt(hi, 10)+" (got "+n.String()+")")
		return 0, false
	}
	return i, true
}
