// Package checker decides whether a history is correct: linearizability of
// the registers (porcupine, one partition per key), no acknowledged write
// lost, the set of namespaces, the watch guarantees, and (acl.go) that
// revoked and non-owner tokens write nothing.
package checker

import (
	"fmt"
	"sort"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/prism/controlplane/jepsen/history"
)

// Result is the verdict of one checker.
type Result struct {
	Name     string   `json:"name"`
	OK       bool     `json:"ok"`
	Unknown  bool     `json:"unknown,omitempty"` // gave up (timeout): not a violation
	Problems []string `json:"problems,omitempty"`
	Note     string   `json:"note,omitempty"`
}

func (r *Result) fail(format string, args ...any) {
	r.OK = false
	if len(r.Problems) < 50 {
		r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
	}
}

// regState is the model of one register key: the namespace's revision and
// value. Exact is false after a write of unknown outcome may have applied:
// the value is known but the revision is only known to exceed Rev.
type regState struct {
	Rev   int64
	Val   int64
	Exact bool
	Set   bool // Init seen
}

type regIn struct {
	Type   string
	Key    string
	ExpRev int64
	Val    int64 // CAS: value written
}

type regOut struct {
	Outcome string
	Rev     int64 // read: revision seen; CAS ok: new revision
	Val     int64 // read: value seen
	CurRev  int64 // CAS fail: current revision reported
}

// RegisterModel is a nondeterministic model of a revisioned register with
// conditional updates, partitioned by key.
func RegisterModel() porcupine.Model {
	nm := porcupine.NondeterministicModel{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, op := range h {
				k := op.Input.(regIn).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], op)
			}
			sort.Strings(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() []any { return []any{regState{}} },
		Step: func(st, in, out any) []any {
			s, i, o := st.(regState), in.(regIn), out.(regOut)
			if i.Type == history.Init {
				if s.Set {
					return nil
				}
				return []any{regState{Rev: o.Rev, Val: o.Val, Exact: true, Set: true}}
			}
			if !s.Set {
				return nil
			}
			switch i.Type {
			case history.Read:
				if o.Val != s.Val {
					return nil
				}
				if s.Exact {
					if o.Rev != s.Rev {
						return nil
					}
					return []any{s}
				}
				if o.Rev <= s.Rev {
					return nil
				}
				return []any{regState{Rev: o.Rev, Val: s.Val, Exact: true, Set: true}}
			case history.CAS:
				switch o.Outcome {
				case history.OK:
					if s.Exact && s.Rev != i.ExpRev || !s.Exact && i.ExpRev <= s.Rev || o.Rev <= i.ExpRev {
						return nil
					}
					return []any{regState{Rev: o.Rev, Val: i.Val, Exact: true, Set: true}}
				case history.Fail:
					if i.ExpRev == o.CurRev {
						return nil
					}
					if s.Exact {
						if s.Rev != o.CurRev {
							return nil
						}
						return []any{s}
					}
					if o.CurRev <= s.Rev {
						return nil
					}
					return []any{regState{Rev: o.CurRev, Val: s.Val, Exact: true, Set: true}}
				default: // unknown: applied or not
					applied := regState{Rev: i.ExpRev, Val: i.Val, Exact: false, Set: true}
					if s.Exact {
						if s.Rev == i.ExpRev {
							return []any{applied}
						}
						return []any{s}
					}
					if i.ExpRev > s.Rev {
						return []any{s, applied}
					}
					return []any{s}
				}
			}
			return nil
		},
	}
	m := nm.ToModel()
	m.DescribeOperation = func(in, out any) string {
		i, o := in.(regIn), out.(regOut)
		switch i.Type {
		case history.Init:
			return fmt.Sprintf("init %s -> rev %d val %d", i.Key, o.Rev, o.Val)
		case history.Read:
			return fmt.Sprintf("read %s -> rev %d val %d", i.Key, o.Rev, o.Val)
		default:
			switch o.Outcome {
			case history.OK:
				return fmt.Sprintf("cas %s if rev %d := %d -> ok rev %d", i.Key, i.ExpRev, i.Val, o.Rev)
			case history.Fail:
				return fmt.Sprintf("cas %s if rev %d := %d -> mismatch (rev %d)", i.Key, i.ExpRev, i.Val, o.CurRev)
			}
			return fmt.Sprintf("cas %s if rev %d := %d -> unknown", i.Key, i.ExpRev, i.Val)
		}
	}
	m.DescribeState = func(st any) string {
		var s string
		for _, x := range st.([]any) {
			r := x.(regState)
			if r.Exact {
				s += fmt.Sprintf("[rev %d val %d] ", r.Rev, r.Val)
			} else {
				s += fmt.Sprintf("[rev >%d val %d] ", r.Rev, r.Val)
			}
		}
		return s
	}
	return m
}

// RegisterOps turns the register part of a history into porcupine
// operations: linearizable reads, CAS of every outcome, and each key's
// initial state. Failed reads are dropped (no effect); stale reads are
// checked elsewhere. Unknown outcomes return at the end of time.
func RegisterOps(ops []history.Op) []porcupine.Operation {
	var end int64
	for _, op := range ops {
		end = max(end, op.Return)
	}
	var out []porcupine.Operation
	for _, op := range ops {
		in := regIn{Type: op.Type, Key: op.Key, ExpRev: op.ExpRev, Val: op.Val}
		o := regOut{Outcome: op.Outcome, Rev: op.Rev, Val: op.Val, CurRev: op.CurRev}
		ret := op.Return
		switch op.Type {
		case history.Init:
		case history.Read:
			if op.Outcome != history.OK {
				continue
			}
		case history.CAS:
			if op.Outcome == history.Unknown {
				ret = end + int64(time.Hour)
			}
		default:
			continue
		}
		out = append(out, porcupine.Operation{ClientId: op.Process, Input: in, Output: o, Call: op.Call, Return: ret})
	}
	return out
}

// Linearizable checks the registers with porcupine; on a violation it
// writes porcupine's HTML view to vizPath.
func Linearizable(ops []history.Op, timeout time.Duration, vizPath string) Result {
	r := Result{Name: "linearizable-register", OK: true}
	pops := RegisterOps(ops)
	model := RegisterModel()
	res, info := porcupine.CheckOperationsVerbose(model, pops, timeout)
	switch res {
	case porcupine.Illegal:
		r.fail("history of %d register operations is not linearizable (see %s)", len(pops), vizPath)
	case porcupine.Unknown:
		r.Unknown = true
		r.Note = fmt.Sprintf("porcupine timed out after %s on %d operations", timeout, len(pops))
	}
	if vizPath != "" && res == porcupine.Illegal {
		if err := porcupine.VisualizePath(model, info, vizPath); err != nil {
			r.Note += " visualization: " + err.Error()
		}
	}
	r.Note = fmt.Sprintf("%d ops, %s", len(pops), r.Note)
	return r
}

// NoLostWrites: the final linearizable read of each key (after healing) is
// at or past every acknowledged write to it, and when it is exactly one of
// them, carries its value.
func NoLostWrites(ops []history.Op) Result {
	r := Result{Name: "no-lost-writes", OK: true}
	maxAck := map[string]history.Op{}
	valAt := map[string]map[int64]int64{}
	final := map[string]history.Op{}
	for _, op := range ops {
		if op.Type == history.CAS && op.Outcome == history.OK {
			if op.Rev > maxAck[op.Key].Rev {
				maxAck[op.Key] = op
			}
			if valAt[op.Key] == nil {
				valAt[op.Key] = map[int64]int64{}
			}
			valAt[op.Key][op.Rev] = op.Val
		}
		if op.Final && op.Type == history.Read && op.Outcome == history.OK {
			final[op.Key] = op
		}
	}
	for k, w := range maxAck {
		f, ok := final[k]
		if !ok {
			r.fail("no final read of %s succeeded", k)
			continue
		}
		if f.Rev < w.Rev {
			r.fail("%s: acknowledged write rev %d val %d lost: final read rev %d val %d", k, w.Rev, w.Val, f.Rev, f.Val)
		}
		if v, ok := valAt[k][f.Rev]; ok && v != f.Val {
			r.fail("%s: final read rev %d has val %d, acknowledged write at that revision wrote %d", k, f.Rev, f.Val, v)
		}
	}
	return r
}

// StaleReads: every successful stale read returns a value that some write
// wrote (or the initial value), with the revision that write produced when
// the write was acknowledged; and per process, revisions seen on one node
// never go backwards.
func StaleReads(ops []history.Op) Result {
	r := Result{Name: "stale-reads", OK: true}
	written := map[string]map[int64]bool{}
	revOf := map[string]map[int64]int64{} // key -> val -> rev (acked)
	for _, op := range ops {
		if op.Type == history.Init || op.Type == history.CAS && op.Outcome != history.Fail {
			if written[op.Key] == nil {
				written[op.Key], revOf[op.Key] = map[int64]bool{}, map[int64]int64{}
			}
			written[op.Key][op.Val] = true
			if op.Outcome == history.OK {
				revOf[op.Key][op.Val] = op.Rev
			}
		}
	}
	type pk struct {
		p    int
		node string
		key  string
	}
	last := map[pk]int64{}
	n, back := 0, 0
	for _, op := range ops {
		if op.Type != history.StaleRead || op.Outcome != history.OK {
			continue
		}
		n++
		if !written[op.Key][op.Val] {
			r.fail("stale read of %s on %s returned val %d that no write wrote", op.Key, op.Node, op.Val)
		}
		if rv, ok := revOf[op.Key][op.Val]; ok && rv != op.Rev {
			r.fail("stale read of %s on %s: val %d at rev %d, but that value was written at rev %d", op.Key, op.Node, op.Val, op.Rev, rv)
		}
		// Not a guarantee (a restarted node replays its log), so only noted.
		k := pk{op.Process, op.Node, op.Key}
		if op.Rev < last[k] {
			back++
		}
		last[k] = op.Rev
	}
	r.Note = fmt.Sprintf("%d stale reads, %d went back in revision on the same node", n, back)
	return r
}
