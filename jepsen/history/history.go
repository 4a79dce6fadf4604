// Package history holds what the workloads record and the checkers read:
// operations with invocation and completion times, watch streams, and the
// fault timeline. Everything is JSON so a report directory can be re-checked.
package history

import (
	"sync"
	"time"
)

// Outcomes of an operation.
const (
	OK      = "ok"      // acknowledged
	Fail    = "fail"    // definitely did not take effect
	Unknown = "unknown" // may or may not have taken effect (timeout, lost leader)
)

// Op types.
const (
	Read      = "read"       // linearizable read of a register
	StaleRead = "stale-read" // stale read of a register (not linearizable)
	CAS       = "cas"        // conditional update: apply with expected revision
	Init      = "init"       // the state a register key starts from
	Create    = "create"     // set: create a namespace (expected revision 0)
	Delete    = "delete"     // set: delete a namespace
	Resize    = "resize"     // shards: unconditional apply of a new capacity to a plc-* namespace
	// The acl workload (--secure).
	ACLToken  = "acl-token"  // an admin mints a team token (Token: its id, Principal: team/NAME)
	ACLWrite  = "acl-write"  // an apply of an acl-* namespace with a team token (Token, Principal, Owners)
	ACLRevoke = "acl-revoke" // an admin revokes a token (Token); ok also when it was revoked already
	ACLFinal  = "acl-final"  // the value of an acl-* namespace after healing (Val, Rev)
)

// Op is one operation. Times are nanoseconds since the start of the run.
type Op struct {
	Process int    `json:"process"`
	Type    string `json:"type"`
	Key     string `json:"key"`
	Call    int64  `json:"call"`
	Return  int64  `json:"return"`
	Outcome string `json:"outcome"`
	// CAS: expected revision and value written; reads: value and revision seen.
	ExpRev int64 `json:"exp_rev,omitempty"`
	Val    int64 `json:"val"`
	// Rev: the namespace's revision after a successful write, or the one a
	// read saw; CurRev: the current revision a failed CAS reported.
	Rev    int64  `json:"rev,omitempty"`
	CurRev int64  `json:"cur_rev,omitempty"`
	Node   string `json:"node,omitempty"`
	Err    string `json:"err,omitempty"`
	Final  bool   `json:"final,omitempty"` // a read after healing
	// Provision workload creates: the namespace's backend (postgres|kafka)
	// and its policies.on_delete ("" is delete).
	Backend  string `json:"backend,omitempty"`
	OnDelete string `json:"on_delete,omitempty"`
	// The acl workload: the token's id (never its secret), the identity it
	// acts as (team/NAME), the owners the written spec declares, and the
	// gRPC code of a refusal.
	Token     string   `json:"token,omitempty"`
	Principal string   `json:"principal,omitempty"`
	Owners    []string `json:"owners,omitempty"`
	Code      string   `json:"code,omitempty"`
}

// Event is one watch event as a watcher received it.
type Event struct {
	Type    string `json:"type"` // put|delete|bookmark|reset
	Rev     int64  `json:"rev"`
	Kind    string `json:"kind,omitempty"`
	Name    string `json:"name,omitempty"`
	NsRev   int64  `json:"ns_rev,omitempty"`
	Val     int64  `json:"val,omitempty"`
	Status  string `json:"status,omitempty"`
	Session int    `json:"session"` // which (re)start of the watch delivered it
	At      int64  `json:"at"`
}

// Session is one start of a watch: from a revision, until it ended.
type Session struct {
	From  int64  `json:"from"`
	Start int64  `json:"start"`
	End   int64  `json:"end"`
	Err   string `json:"err,omitempty"`
}

// Watcher is the record of one watcher.
type Watcher struct {
	ID       int       `json:"id"`
	Node     string    `json:"node"` // preferred endpoint
	Sessions []Session `json:"sessions"`
	Events   []Event   `json:"events"`
}

// Fault is one entry of the nemesis timeline.
type Fault struct {
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
	Err    string `json:"err,omitempty"`
}

// Recorder collects operations from concurrent workers.
type Recorder struct {
	T0  time.Time
	mu  sync.Mutex
	ops []Op
}

// NewRecorder starts the run's clock.
func NewRecorder() *Recorder { return &Recorder{T0: time.Now()} }

// Now is the time since the start of the run (monotonic).
func (r *Recorder) Now() int64 { return int64(time.Since(r.T0)) }

// Add records an operation.
func (r *Recorder) Add(op Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

// Ops returns a copy of the operations so far.
func (r *Recorder) Ops() []Op {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Op(nil), r.ops...)
}

// File is history.json.
type File struct {
	Seed     int64     `json:"seed"`
	Nodes    int       `json:"nodes"`
	Ops      []Op      `json:"ops"`
	Watchers []Watcher `json:"watchers"`
	Faults   []Fault   `json:"faults"`
	// Final is the linearizable listing after healing: name -> revision,
	// and its cluster revision.
	Final    map[string]int64 `json:"final"`
	FinalRev int64            `json:"final_rev"`
}
