package placement

import (
	"errors"
	"strconv"
)

// Load is a demand or a capacity in three integer dimensions.
// RPS are whole requests per second; data is in megabytes (callers
// convert gigabyte floats with math.Round(gb*1000)). Values are clamped
// to [0, MaxValue] when they enter the engine.
type Load struct {
	ReadRPS  int64
	WriteRPS int64
	DataMB   int64
}

// MaxValue is the largest value of one dimension the engine accepts;
// larger values are clamped, negative values count as zero.
const MaxValue = int64(1) << 40

// dims is the number of dimensions of a Load.
const dims = 3

var dimNames = [dims]string{"read_rps", "write_rps", "data_gb"}

func (l Load) at(d int) int64 {
	switch d {
	case 0:
		return l.ReadRPS
	case 1:
		return l.WriteRPS
	}
	return l.DataMB
}

func (l Load) add(o Load) Load {
	return Load{l.ReadRPS + o.ReadRPS, l.WriteRPS + o.WriteRPS, l.DataMB + o.DataMB}
}

func (l Load) sub(o Load) Load {
	return Load{l.ReadRPS - o.ReadRPS, l.WriteRPS - o.WriteRPS, l.DataMB - o.DataMB}
}

func clampValue(v int64) int64 {
	if v < 0 {
		return 0
	}
	if v > MaxValue {
		return MaxValue
	}
	return v
}

func (l Load) clamped() Load {
	return Load{clampValue(l.ReadRPS), clampValue(l.WriteRPS), clampValue(l.DataMB)}
}

// String renders the load as "read_rps=… write_rps=… data_gb=…".
func (l Load) String() string {
	b := make([]byte, 0, 64)
	b = append(b, "read_rps="...)
	b = strconv.AppendInt(b, l.ReadRPS, 10)
	b = append(b, " write_rps="...)
	b = strconv.AppendInt(b, l.WriteRPS, 10)
	b = append(b, " data_gb="...)
	b = append(b, gb(l.DataMB)...)
	return string(b)
}

// ShardState is the health/lifecycle state of a shard as the leader sees it.
type ShardState int

// Shard states. Only Up shards receive namespaces.
const (
	Up ShardState = iota
	Suspect
	Down
	Draining
)

func (s ShardState) String() string {
	switch s {
	case Up:
		return "up"
	case Suspect:
		return "suspect"
	case Down:
		return "down"
	case Draining:
		return "draining"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Shard is one placement target. Removed shards are simply absent from Input.
type Shard struct {
	ID       string
	Capacity Load
	Backends []string
	Labels   map[string]string
	State    ShardState
	// DownPastGrace is decided by the caller (the leader owns the clock):
	// true when a Down shard has been down longer than the grace period
	// (default 30 s). Within grace its namespaces are reported degraded;
	// past grace they are moved.
	DownPastGrace bool
}

// Isolation values of Namespace.Isolation.
const (
	IsolationDefault   = ""
	IsolationShared    = "shared"
	IsolationDedicated = "dedicated"
)

// Move is an in-flight move (ADR-009). Until the caller reports it done the
// namespace occupies capacity on both From and To.
type Move struct {
	From, To string
}

// Namespace is one unit of placement.
type Namespace struct {
	Name      string
	Demand    Load
	Backend   string
	Isolation string
	// Labels are required shard labels: an eligible shard carries every key=value.
	Labels map[string]string
	// Pinned is an operator pin: the namespace lives on PinnedShard (or on
	// CurrentShard when PinnedShard is empty) and the engine never moves it.
	Pinned      bool
	PinnedShard string
	// CurrentShard is the shard serving the namespace; "" means unassigned.
	CurrentShard string
	// Moving is non-nil while a move is in flight; the engine never re-plans it.
	Moving *Move
	// MovedRecently is true within the cooling period after a move (the caller
	// owns the clock). Such a namespace moves again only when forced.
	MovedRecently bool
}

// Input is the whole cluster as the leader sees it.
type Input struct {
	Shards     []Shard
	Namespaces []Namespace
}

// Decision kinds.
const (
	KindAssign        = "assign"
	KindMove          = "move"
	KindUnschedulable = "unschedulable"
	KindDegraded      = "degraded"
	KindKeep          = "keep"
)

// Namespace classes returned by Classify.
const (
	ClassShared        = "shared"
	ClassDedicated     = "dedicated"
	ClassUnschedulable = "unschedulable"
)

// Rejection constraint names used in Decision.Rejected and Candidate.Constraint,
// in the order they are checked.
const (
	RejectBackend   = "backend"   // shard does not serve the namespace's backend
	RejectLabels    = "labels"    // shard lacks a required label
	RejectState     = "state"     // shard is not Up
	RejectDedicated = "dedicated" // shard is dedicated to another namespace
	RejectOccupied  = "occupied"  // a dedicated namespace needs an empty shard
	RejectCapacity  = "capacity"  // demand does not fit (under TargetUtil; whole shard for dedicated)
	RejectSource    = "source"    // the shard the namespace is being moved off
)

var rejectOrder = []string{RejectBackend, RejectLabels, RejectState, RejectDedicated, RejectOccupied, RejectCapacity, RejectSource}

// Decision is one entry of a Plan.
type Decision struct {
	Namespace string
	Shard     string // destination ("" when unschedulable); current shard for degraded
	From      string // "" for a new assignment
	Reason    string
	Kind      string // KindAssign, KindMove, KindUnschedulable, KindDegraded
	Rejected  map[string]int
	Score     int64 // worst-dimension utilization of Shard after placement, per mille
}

// Plan is the output of Place and Rebalance. Decisions hold only changes,
// unschedulable and degraded namespaces, sorted by namespace name.
type Plan struct {
	Decisions     []Decision
	Moves         int
	Assigns       int
	Unschedulable int
	Degraded      int
}

// Sentinel errors.
var (
	ErrUnknownNamespace   = errors.New("placement: unknown namespace")
	ErrDuplicateNamespace = errors.New("placement: duplicate namespace")
	ErrUnknownShard       = errors.New("placement: unknown shard")
	ErrInvalidConfig      = errors.New("placement: invalid config")
	ErrInvalidInput       = errors.New("placement: invalid input")
)
