package controller

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision/plan"
)

// Lifecycle moves namespaces through their lifecycle (ADR-006):
// provisioning → active once every resource is ready; active ⇄ degraded
// as resources go missing or their server becomes unreachable;
// deleting → deleted once they are gone (or released); deleted → purged
// after the tombstone retention. Each namespace is worked on by itself,
// with its own backoff, under a global bound of Workers: a slow backend
// holds up only its own namespaces.
type Lifecycle struct {
	cfg   LifecycleConfig
	deps  LifecycleDeps
	nudge chan struct{}

	mu       sync.Mutex
	track    map[string]*tracked // by namespace name
	checking int                 // drift checks in flight
	sem      chan struct{}
	wg       sync.WaitGroup
}

// tracked is the controller's memory of one namespace (lost with
// leadership: a new leader starts afresh, which is safe because every
// step is idempotent).
type tracked struct {
	inFlight  bool
	create    int64 // incarnation this memory is about
	status    fsmpb.NamespaceStatus
	spec      int64     // spec revision of the last failure
	failures  int       // consecutive failures
	due       time.Time // not before (backoff)
	terminal  bool      // a failure that waits for a new spec or a reconcile
	kind      string    // kind of the last committed failure ("" none)
	logged    string    // kind of the last failure logged at warn level
	hashes    []string  // plan hashes of the spec at hashSpec (planHashes)
	hashSpec  int64
	checked   time.Time // last drift observation of an active namespace
	reconcile int64     // reconcile request last acted on
}

// NewLifecycle returns a controller; Run starts it.
func NewLifecycle(cfg LifecycleConfig, deps LifecycleDeps) *Lifecycle {
	if deps.AwaitsPlacement == nil {
		deps.AwaitsPlacement = func(*fsmpb.Namespace) bool { return false }
	}
	return &Lifecycle{cfg: cfg, deps: deps, nudge: make(chan struct{}, 1), track: map[string]*tracked{}, sem: make(chan struct{}, cfg.Workers)}
}

// Nudge makes the controller look for work now (a namespace changed).
func (l *Lifecycle) Nudge() {
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// Run works until ctx ends, then waits for the work in flight.
func (l *Lifecycle) Run(ctx context.Context) {
	defer l.wg.Wait()
	loop(ctx, l.cfg.Interval, l.cfg.MinRoundGap, l.nudge, func() { l.round(ctx) })
}

// round starts work on every namespace that is due and not in flight,
// while workers are free; it never waits for a worker. Work that changes a
// namespace (provisioning, deletion, recovery, a new spec, a reconcile
// request, a purge) goes first; periodic drift checks of active
// namespaces take what is left, never more than a quarter of the workers,
// and the least recently checked first. So checks can never starve the
// rest, however many namespaces are active.
func (l *Lifecycle) round(ctx context.Context) {
	all, _ := l.deps.State.List(fsm.Filter{IncludeDeleted: true})
	now := l.deps.Clock.Now()
	seen := make(map[string]bool, len(all))
	var counts [8]int
	resources := map[fsmpb.ResourceState]int{}
	type due struct {
		ns      *fsmpb.Namespace
		checked time.Time
	}
	var checks []due
	for _, ns := range all {
		name := ns.Spec.GetName()
		seen[name] = true
		if int(ns.Status) < len(counts) {
			counts[ns.Status]++
		}
		for _, r := range ns.Resources {
			resources[r.State]++
		}
		if ctx.Err() != nil {
			return
		}
		if l.cfg.Disabled && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			continue
		}
		l.mu.Lock()
		t := l.trackedFor(ns)
		isDue, check := l.isDue(ns, t, now)
		switch {
		case !isDue || t.inFlight:
		case check:
			checks = append(checks, due{ns, t.checked})
		default:
			l.start(ctx, ns, t, false)
		}
		l.mu.Unlock()
	}
	sort.Slice(checks, func(i, j int) bool { return checks[i].checked.Before(checks[j].checked) })
	maxChecks := max(1, l.cfg.Workers/4)
	l.mu.Lock()
	for i, c := range checks {
		if i >= l.cfg.ChecksPerRound || l.checking >= maxChecks {
			break
		}
		l.start(ctx, c.ns, l.track[c.ns.Spec.GetName()], true)
	}
	for name, t := range l.track {
		if !seen[name] && !t.inFlight {
			delete(l.track, name) // purged
		}
	}
	l.mu.Unlock()
	l.deps.Metrics.namespaces(counts[:])
	l.deps.Metrics.resourceStates(resources)
}

// start hands ns to a free worker, if there is one (the next round picks
// it up otherwise). Called with l.mu held.
func (l *Lifecycle) start(ctx context.Context, ns *fsmpb.Namespace, t *tracked, check bool) {
	select {
	case l.sem <- struct{}{}:
	default:
		return // all workers busy
	}
	t.inFlight = true
	if check {
		t.checked = l.deps.Clock.Now()
		l.checking++
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer l.Nudge() // a worker is free: namespaces that found none go next
		defer func() {
			<-l.sem
			if check {
				l.mu.Lock()
				l.checking--
				l.mu.Unlock()
			}
		}()
		l.work(ctx, ns)
	}()
}

// trackedFor returns the memory of ns, reset when ns is a new incarnation
// or has a new spec or reconcile request. Called with l.mu held.
func (l *Lifecycle) trackedFor(ns *fsmpb.Namespace) *tracked {
	name := ns.Spec.GetName()
	t := l.track[name]
	if t == nil || t.create != ns.CreateRevision {
		t = &tracked{create: ns.CreateRevision, spec: fsm.SpecRevision(ns), status: ns.Status}
		l.track[name] = t
	}
	if sr := fsm.SpecRevision(ns); sr != t.spec || ns.Status != t.status {
		// A new spec, or a new phase (a delete): earlier failures and
		// their backoff are about something else. The kind of the last
		// committed failure stays: the same failure again is not a new
		// commit (a spec updated often must not commit a status each time).
		t.spec, t.status, t.failures, t.due, t.terminal = sr, ns.Status, 0, time.Time{}, false
	}
	if r := ns.Reconcile.GetRevision(); r != 0 && r != t.reconcile {
		t.reconcile, t.failures, t.due, t.terminal, t.checked = r, 0, time.Time{}, false, time.Time{}
	}
	return t
}

// isDue: whether ns needs work now; check marks a periodic drift check of
// an active namespace (bounded per round). Called with l.mu held.
func (l *Lifecycle) isDue(ns *fsmpb.Namespace, t *tracked, now time.Time) (due, check bool) {
	if t.terminal || now.Before(t.due) {
		return false, false
	}
	switch ns.Status {
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_PROVISIONING:
		// Resources are made whether or not placement found a shard yet;
		// a namespace only waits for placement once they are ready.
		return !(l.deps.AwaitsPlacement(ns) && (l.cfg.Disabled || t.resourcesReady(ns))), false
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETING:
		return true, false
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED:
		return now.Sub(time.Unix(0, ns.DeletedUnixNano)) >= l.cfg.TombstoneRetention, false
	case fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE, fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED:
		if l.cfg.Disabled {
			return false, false
		}
		if ns.Reconcile != nil || t.specChanged(ns) {
			return true, false
		}
		degradedByUs := ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_DEGRADED && isResourceReason(ns.StatusReason)
		if len(ns.Resources) == 0 {
			return false, false
		}
		if degradedByUs {
			return true, false // observed again with backoff until it recovers
		}
		return now.Sub(t.checked) >= l.cfg.CheckInterval, true
	}
	return false, false
}

// planHashes are the plan's resource hashes for ns's spec, computed once
// per spec revision, not in every round. Called with l.mu held.
func (t *tracked) planHashes(ns *fsmpb.Namespace) []string {
	if sr := fsm.SpecRevision(ns); t.hashes == nil || t.hashSpec != sr {
		want := plan.For(ns.Spec).Resources
		t.hashes, t.hashSpec = make([]string, len(want)), sr
		for i, r := range want {
			t.hashes[i] = r.Hash()
		}
	}
	return t.hashes
}

// resourcesReady: every resource the plan needs is recorded ready (true
// for a backend with no resources). Called with l.mu held.
func (t *tracked) resourcesReady(ns *fsmpb.Namespace) bool {
	if len(ns.Resources) < len(t.planHashes(ns)) {
		return false
	}
	for _, r := range ns.Resources {
		if r.State != rsReady {
			return false
		}
	}
	return true
}

// specChanged: the spec now plans a resource other than the one recorded
// (more partitions, other configs). Called with l.mu held.
func (t *tracked) specChanged(ns *fsmpb.Namespace) bool {
	hashes := t.planHashes(ns)
	if len(hashes) != len(ns.Resources) {
		return len(hashes) > 0
	}
	for i, h := range hashes {
		if ns.Resources[i].PlanHash != h {
			return true
		}
	}
	return false
}

// done records the outcome of one piece of work on a namespace.
func (l *Lifecycle) done(ns *fsmpb.Namespace, failed, terminal bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.track[ns.Spec.GetName()]
	if t == nil {
		return
	}
	t.inFlight = false
	if !failed {
		t.failures, t.due, t.terminal, t.logged = 0, time.Time{}, false, ""
		return
	}
	t.failures++
	t.terminal = terminal
	t.due = l.deps.Clock.Now().Add(l.backoff(t.failures))
}

// backoff is min(BackoffMin·2^(n-1), BackoffMax), less up to 20% jitter so
// namespaces failing together do not retry together.
func (l *Lifecycle) backoff(n int) time.Duration {
	d := l.cfg.BackoffMin
	for i := 1; i < n && d < l.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, l.cfg.BackoffMax)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// lastKind / setKind read and record the kind of the last failure
// committed for a namespace, so the same failure is committed once.
func (l *Lifecycle) lastKind(name string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.track[name]; t != nil {
		return t.kind
	}
	return ""
}

func (l *Lifecycle) setKind(name, kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.track[name]; t != nil {
		t.kind = kind
	}
}

// loggedNew reports whether kind is not the last failure kind logged at
// warn level for the namespace, and records it as logged.
func (l *Lifecycle) loggedNew(name, kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.track[name]
	if t == nil || t.logged == kind {
		return false
	}
	t.logged = kind
	return true
}
