package shardagent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// Config configures an Agent.
type Config struct {
	// Spec is the shard the agent registers (ParseSpec builds it from flags).
	Spec *fsmpb.ShardSpec
	// ControlPlane lists gRPC addresses of any control-plane nodes.
	ControlPlane []string
	// HeartbeatInterval is used until the leader says otherwise.
	HeartbeatInterval time.Duration
	// RequestTimeout bounds one call to the control plane.
	RequestTimeout time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// TLS dials the control plane over TLS (client.Config.TLS); nil: plaintext.
	TLS *tls.Config
	// Token is an ACL token (a shard token, prismctl acl token create
	// --shard ID) sent on every call (client.Config.Token); "": none, the
	// agent acts as its certificate. Never logged.
	Token string
}

// DefaultConfig returns the defaults documented on each Config field.
func DefaultConfig() Config {
	return Config{HeartbeatInterval: 2 * time.Second, RequestTimeout: 3 * time.Second}
}

// Validate lists every problem with the config.
func (c Config) Validate() error {
	var errs []error
	if c.Spec == nil || c.Spec.Id == "" {
		errs = append(errs, fmt.Errorf("%w: --id is required", ErrInvalidSpec))
	}
	if len(c.ControlPlane) == 0 {
		errs = append(errs, fmt.Errorf("%w: --control-plane needs at least one address", ErrInvalidSpec))
	}
	if c.HeartbeatInterval <= 0 || c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("%w: heartbeat interval and request timeout must be positive", ErrInvalidSpec))
	}
	return errors.Join(errs...)
}

// View is what the agent serves: the namespaces assigned to its shard as of
// a revision.
type View struct {
	ShardID    string
	Revision   int64
	Shard      *fsmpb.Shard // nil until seen
	Namespaces []*fsmpb.Namespace
	Connected  bool // the watch is streaming from some node
	Registered bool
}

// Agent is one shard's agent. Run drives it; View reads it.
type Agent struct {
	cfg     Config
	cl      *client.Client
	log     *slog.Logger
	session string

	mu         sync.Mutex
	rev        int64
	shard      *fsmpb.Shard
	nss        map[string]*fsmpb.Namespace // assigned to this shard
	pending    map[string]*fsmpb.Namespace // a listing in progress
	listing    bool                        // the current watch started with a listing
	relist     bool                        // the next watch must list (after compacted or reset)
	connected  bool
	registered bool
	changed    chan struct{} // closed and replaced on every change
}

// New returns an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cl, err := client.New(client.Config{Endpoints: cfg.ControlPlane, AttemptTimeout: cfg.RequestTimeout, TLS: cfg.TLS, Token: cfg.Token})
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return &Agent{cfg: cfg, cl: cl, log: log.With("component", "shard-agent", "shard", cfg.Spec.Id),
		session: hex.EncodeToString(b), nss: map[string]*fsmpb.Namespace{}, changed: make(chan struct{})}, nil
}

// Run registers the shard, then heartbeats and watches until ctx ends.
// It returns nil when ctx ends; it never gives up on an unreachable control
// plane.
func (a *Agent) Run(ctx context.Context) error {
	defer a.cl.Close()
	a.register(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.heartbeats(ctx)
	}()
	a.watch(ctx)
	wg.Wait()
	return nil
}

// register retries until the shard is registered or ctx ends.
func (a *Agent) register(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		_, err := a.cl.RegisterShard(rctx, a.cfg.Spec)
		cancel()
		if err == nil {
			a.mu.Lock()
			a.registered = true
			a.mu.Unlock()
			a.log.Info("registered")
			return
		}
		if c := status.Code(err); c == codes.PermissionDenied || c == codes.Unauthenticated {
			// Retried (the operator may fix the token or the ACLs), but
			// said as what it is.
			a.log.Error("the control plane refuses this shard's identity: it must be shard/"+a.cfg.Spec.Id+" (--token from acl token create --shard, or a shard certificate); retrying", "err", err)
		} else {
			a.log.Warn("registering failed; retrying", "err", err)
		}
		sleep(ctx, backoff(attempt))
	}
}

// heartbeats renews the session every interval the leader asks for; a
// leader that does not know the shard (say, it was removed, or a restored
// snapshot predates it) gets it registered again.
func (a *Agent) heartbeats(ctx context.Context) {
	every := a.cfg.HeartbeatInterval
	for ctx.Err() == nil {
		hctx, cancel := context.WithTimeout(ctx, a.cfg.RequestTimeout)
		resp, err := a.cl.Heartbeat(hctx, a.cfg.Spec.Id, a.session, a.readyToTakeOver())
		cancel()
		switch {
		case err == nil:
			if d := time.Duration(resp.IntervalMs) * time.Millisecond; d > 0 {
				every = d
			}
		case status.Code(err) == codes.NotFound:
			a.log.Warn("the control plane does not know this shard; registering again")
			a.register(ctx)
			continue
		default:
			a.log.Warn("heartbeat failed", "err", err)
		}
		sleep(ctx, every)
	}
}

// watch follows the shard's assignments, resuming from the last revision
// across node failures and listing again after `compacted` or `reset`.
func (a *Agent) watch(ctx context.Context) {
	for attempt := 0; ctx.Err() == nil; attempt++ {
		a.mu.Lock()
		from := a.rev
		if a.relist {
			from = 0
		}
		a.listing = from == 0
		a.pending = map[string]*fsmpb.Namespace{}
		a.mu.Unlock()
		err := a.cl.Watch(ctx, &rpcpb.WatchRequest{FromRevision: from, ShardId: a.cfg.Spec.Id}, a.apply)
		a.setConnected(false)
		if ctx.Err() != nil {
			return
		}
		switch client.Reason(err) {
		case rpcpb.ReasonCompacted, rpcpb.ReasonReset:
			a.log.Warn("watch must list again", "err", err)
			a.mu.Lock()
			a.relist = true // keep serving what we hold until the listing completes
			a.mu.Unlock()
		case rpcpb.ReasonWatcherTooSlow:
			a.log.Warn("watch cut as too slow; resuming", "from", from)
		default:
			a.log.Warn("watch ended; resuming", "from", from, "err", err)
		}
		sleep(ctx, backoff(attempt))
	}
}

// apply folds one watch event into the view.
func (a *Agent) apply(e *rpcpb.WatchEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.connected = true
	id := a.cfg.Spec.Id
	target := a.nss
	if a.listing {
		target = a.pending
	}
	switch e.Type {
	case "reset": // a listing broke off: it starts over
		a.pending = map[string]*fsmpb.Namespace{}
		return nil
	case "bookmark":
		if a.listing {
			a.nss, a.pending, a.listing, a.relist = a.pending, nil, false, false
			a.rev = e.Revision
		}
		a.rev = max(a.rev, e.Revision)
		a.notify()
		return nil
	}
	switch {
	case e.Namespace != nil:
		ns := e.Namespace
		if e.Type == "put" && fsm.IsOn(ns, id) && ns.Status != fsmpb.NamespaceStatus_NAMESPACE_STATUS_DELETED {
			target[e.Name] = ns
		} else {
			delete(target, e.Name)
		}
	case e.Shard != nil && e.Name == id:
		if e.Type == "put" {
			a.shard = e.Shard
		} else {
			a.shard = nil
		}
	}
	if !a.listing {
		a.rev = max(a.rev, e.Revision)
		a.notify()
	}
	return nil
}

// readyToTakeOver lists the namespaces moving here in their shadow phase:
// the reference agent has nothing to warm up, so it is ready for all of
// them (a real gateway would report them once its shadow traffic is
// healthy).
func (a *Agent) readyToTakeOver() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for name, ns := range a.nss {
		if m := ns.Move; m != nil && m.To == a.cfg.Spec.Id && m.Phase == fsmpb.MovePhase_MOVE_PHASE_SHADOW {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (a *Agent) setConnected(v bool) {
	a.mu.Lock()
	a.connected = v
	a.mu.Unlock()
}

// notify wakes Changed waiters; a.mu is held.
func (a *Agent) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// Changed returns a channel closed at the next change of the view.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// View returns the agent's current view (namespaces sorted by name).
func (a *Agent) View() View {
	a.mu.Lock()
	defer a.mu.Unlock()
	v := View{ShardID: a.cfg.Spec.Id, Revision: a.rev, Shard: a.shard, Connected: a.connected, Registered: a.registered}
	for _, ns := range a.nss {
		v.Namespaces = append(v.Namespaces, ns)
	}
	sort.Slice(v.Namespaces, func(i, j int) bool { return v.Namespaces[i].Spec.GetName() < v.Namespaces[j].Spec.GetName() })
	return v
}

func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt, 5), 2*time.Second)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
