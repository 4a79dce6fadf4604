package rpc

import (
	"container/list"
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// RateLimits are requests per second per principal and class on one
// node's public port (a burst of twice the rate is allowed); 0 turns a
// limit off. The principal is a verified client certificate's identity
// (its URI SAN), else the peer's IP address. Writes are also limited
// for all principals together (GlobalWrite).
type RateLimits struct {
	Read, Write, Watch, Heartbeat float64
	GlobalWrite                   float64
	// MaxPrincipals bounds the limiters kept; the least recently used go
	// first (a principal seen again starts with a full burst).
	MaxPrincipals int
}

// DefaultRateLimits are far above what a well-behaved client does (a
// shard agent heartbeats once a second, the put benchmark makes about
// 1,000 writes a second per node) and stop one client from taking a node.
func DefaultRateLimits() RateLimits {
	return RateLimits{Read: 20000, Write: 5000, Watch: 1000, Heartbeat: 2000, GlobalWrite: 20000, MaxPrincipals: 10000}
}

func (r RateLimits) validate() []string {
	var bad []string
	for name, v := range map[string]float64{"read": r.Read, "write": r.Write, "watch": r.Watch, "heartbeat": r.Heartbeat, "global write": r.GlobalWrite} {
		if v < 0 {
			bad = append(bad, fmt.Sprintf("%s rate %v must not be negative", name, v))
		}
	}
	if r.MaxPrincipals < 1 {
		bad = append(bad, fmt.Sprintf("max principals %d must be at least 1", r.MaxPrincipals))
	}
	return bad
}

func (r RateLimits) rateOf(c Class) float64 {
	switch c {
	case ClassRead:
		return r.Read
	case ClassWrite, ClassAdmin:
		return r.Write
	case ClassWatch:
		return r.Watch
	case ClassHeartbeat:
		return r.Heartbeat
	}
	return 0
}

// limiters holds a bounded set of token buckets, one per principal and
// class. Checking never blocks: over the limit is an answer at once.
type limiters struct {
	cfg    RateLimits
	global *rate.Limiter // nil: no global write limit
	m      *Metrics

	mu    sync.Mutex
	byKey map[limiterKey]*list.Element
	lru   *list.List // of *limiterEntry, most recently used first
}

type limiterKey struct {
	principal string
	class     Class
}

type limiterEntry struct {
	key limiterKey
	lim *rate.Limiter
}

func newLimiters(cfg RateLimits, m *Metrics) *limiters {
	l := &limiters{cfg: cfg, m: m, byKey: map[limiterKey]*list.Element{}, lru: list.New()}
	if cfg.GlobalWrite > 0 {
		l.global = rate.NewLimiter(rate.Limit(cfg.GlobalWrite), burst(cfg.GlobalWrite))
	}
	return l
}

func burst(r float64) int { return max(1, int(2*r)) }

// admit says whether principal may make a call of class now; when not,
// how long until it may.
func (l *limiters) admit(principal string, c Class, now time.Time) (bool, time.Duration) {
	r := l.cfg.rateOf(c)
	if r > 0 {
		if ok, wait := reserve(l.limiter(limiterKey{principal, c}, r), now); !ok {
			return false, wait
		}
	}
	if l.global != nil && (c == ClassWrite || c == ClassAdmin) {
		return reserve(l.global, now)
	}
	return true, 0
}

// reserve takes a token now if there is one, without waiting for one.
func reserve(lim *rate.Limiter, now time.Time) (bool, time.Duration) {
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Second
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

func (l *limiters) limiter(k limiterKey, r float64) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.byKey[k]; ok {
		l.lru.MoveToFront(e)
		return e.Value.(*limiterEntry).lim
	}
	for l.lru.Len() >= l.cfg.MaxPrincipals {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.byKey, old.Value.(*limiterEntry).key)
	}
	ent := &limiterEntry{key: k, lim: rate.NewLimiter(rate.Limit(r), burst(r))}
	l.byKey[k] = l.lru.PushFront(ent)
	return ent.lim
}

// check admits a call of fullMethod from ctx's peer, or answers
// ResourceExhausted with the delay after which to retry (RetryInfo). A
// method not in the class table (none of the registered services has one:
// a test says so) is limited as a write.
func (l *limiters) check(ctx context.Context, fullMethod string) error {
	c, ok := ClassOf(fullMethod)
	if !ok {
		c = ClassWrite
	}
	if c == ClassOpen {
		return nil
	}
	if ok, wait := l.admit(principalOf(ctx), c, time.Now()); !ok {
		l.m.limited(c)
		st := status.New(codes.ResourceExhausted, fmt.Sprintf("rate limited: too many %s calls from this client; retry in %v", c, wait.Round(time.Millisecond)))
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
			st = d
		}
		return st.Err()
	}
	return nil
}

func (l *limiters) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := l.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (l *limiters) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := l.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

// principalOf is who a call is from, for rate limits: the identity the
// auth interceptor found (a token's or a verified certificate's), else
// "ip:" and the peer's address.
func principalOf(ctx context.Context) string {
	if c := callerOf(ctx); c.p.Authenticated() {
		return c.p.String()
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		host = p.Addr.String()
	}
	return "ip:" + host
}
