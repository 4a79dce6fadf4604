package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/provision"
)

// fakeApplier applies leader commands to a real state machine in memory,
// as raft would after a commit, and counts them by body.
type fakeApplier struct {
	mu     sync.Mutex
	f      *fsm.FSM
	index  uint64
	counts map[string]int
	fail   error // when set, every Apply fails (leadership lost)
}

func newFakeApplier() *fakeApplier { return &fakeApplier{f: fsm.New(), counts: map[string]int{}} }

func (a *fakeApplier) Apply(_ context.Context, cmd *fsmpb.Command) (fsm.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return fsm.Result{}, a.fail
	}
	if err := fsm.ValidateCommand(cmd, fsm.FromLeader); err != nil {
		return fsm.Result{}, err
	}
	a.index++
	cmd.UnixNano = int64(a.index) * int64(time.Millisecond)
	b, err := fsm.EncodeCommand(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	a.counts[fsm.BodyName(cmd)]++
	return a.f.Apply(a.index, b), nil
}

func (a *fakeApplier) VerifyLeader(context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fail
}

func (a *fakeApplier) count(body string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts[body]
}

// client applies a client command (apply, delete, reconcile).
func (a *fakeApplier) client(t *testing.T, cmd *fsmpb.Command) fsm.Result {
	t.Helper()
	if err := fsm.ValidateCommand(cmd, fsm.FromClient); err != nil {
		t.Fatal(err)
	}
	a.mu.Lock()
	a.index++
	idx := a.index
	a.mu.Unlock()
	b, _ := fsm.EncodeCommand(cmd)
	r := a.f.Apply(idx, b)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

// fakeBackend is an in-memory backend: resources by name, with an owner
// (namespace/create revision) where it records one.
type fakeBackend struct {
	mu        sync.Mutex
	records   bool // records ownership (like the Postgres registry)
	res       map[string]string
	partition map[string]int32
	err       error // next calls fail with it
	// hold, when set, blocks Observe of the namespaces it names until
	// the channel is closed (a slow server).
	hold      chan struct{}
	holdNames map[string]bool
	creates   int
	deletes   int
	released  map[string]bool
}

func newFakeBackend(records bool) *fakeBackend {
	return &fakeBackend{records: records, res: map[string]string{}, partition: map[string]int32{}, released: map[string]bool{}}
}

func owner(req provision.Request) string {
	return fmt.Sprintf("%s/%d", req.Namespace, req.CreateRevision)
}

func (b *fakeBackend) observe(req provision.Request) provision.Observation {
	name := req.Resource.Name()
	o, ok := b.res[name]
	if !ok {
		return provision.Observation{}
	}
	obs := provision.Observation{Exists: true, Partitions: b.partition[name], Detail: "fake " + name}
	switch {
	case !b.records:
		obs.Owner = provision.OwnerUnknown
	case o == owner(req):
		obs.Owner = provision.OwnerThis
	default:
		obs.Owner, obs.OwnerDetail = provision.OwnerOther, "owned by "+o
	}
	return obs
}

func (b *fakeBackend) Observe(_ context.Context, req provision.Request) (provision.Observation, error) {
	b.mu.Lock()
	if hold := b.hold; hold != nil && b.holdNames[req.Namespace] {
		b.mu.Unlock()
		<-hold
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if b.err != nil {
		return provision.Observation{}, b.err
	}
	return b.observe(req), nil
}

func (b *fakeBackend) Ensure(_ context.Context, req provision.Request) (provision.Observation, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return provision.Observation{}, b.err
	}
	name := req.Resource.Name()
	obs := b.observe(req)
	switch {
	case !obs.Exists:
		b.res[name] = owner(req)
		b.creates++
	case obs.Owner == provision.OwnerOther, obs.Owner == provision.OwnerUnknown && !req.Owned:
		return obs, fmt.Errorf("%w: %s", provision.ErrForeign, name)
	}
	if req.Resource.Partitions > b.partition[name] {
		b.partition[name] = req.Resource.Partitions
	}
	return b.observe(req), nil
}

func (b *fakeBackend) Delete(_ context.Context, req provision.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return b.err
	}
	name := req.Resource.Name()
	obs := b.observe(req)
	if obs.Exists && (obs.Owner == provision.OwnerOther || !req.Owned) {
		return fmt.Errorf("%w: %s", provision.ErrForeign, name)
	}
	if obs.Exists {
		delete(b.res, name)
		b.deletes++
	}
	return nil
}

func (b *fakeBackend) Release(_ context.Context, req provision.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.released[req.Resource.Name()] = true
	b.res[req.Resource.Name()] = "released"
	return nil
}

func (b *fakeBackend) set(f func(b *fakeBackend)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// frozenClock is a clock tests move by hand.
type frozenClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *frozenClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *frozenClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
