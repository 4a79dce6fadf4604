package apifuzz

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Config is one fuzz run.
type Config struct {
	// Methods are the RPCs to call, each equally often.
	Methods []Method
	// Seeds are valid requests by message type (full name): the pure and
	// mutated requests start from them. A type without seeds uses its
	// empty message.
	Seeds map[protoreflect.FullName][]proto.Message
	// Words are strings the generator picks often (see Gen.Words).
	Words []string
	// Nodes is how many nodes there are; each call goes to a random one.
	Nodes int
	// Target is the address that serves service on node (0-based).
	Target func(service protoreflect.FullName, node int) string
	// Allow, when set, says whether a request may be sent; a refused one
	// is counted as skipped, not called.
	Allow func(m Method, req proto.Message) bool
	// Clients is the number of concurrent clients, each with its own
	// connections and its own generator seeded from Seed.
	Clients int
	// Duration and MaxCalls bound the run (MaxCalls 0: no count limit).
	Duration time.Duration
	MaxCalls int64
	Seed     uint64
	// CallTimeout bounds a unary call, StreamTimeout a stream.
	CallTimeout, StreamTimeout time.Duration
	// Trace, when set, gets one line per request before it is sent
	// (client, method, node, mode, hex of each message): when a crash
	// kills the process, the last lines of each client hold the culprit.
	Trace io.Writer
}

// Modes of building a request.
const (
	modeSeed   = "seed"   // a seed as it is
	modeMutate = "mutate" // a seed with a few fields changed
	modeRandom = "random" // every field random
	modeRaw    = "raw"    // mutated wire bytes
)

// Run calls methods until the duration passes, MaxCalls calls were made or
// ctx ends. Call outcomes are counted, never errors: the caller checks the
// servers afterwards. The error is for a run that could not start.
func Run(ctx context.Context, cfg Config) (*Stats, error) {
	if len(cfg.Methods) == 0 || cfg.Nodes <= 0 || cfg.Target == nil || cfg.Clients <= 0 {
		return nil, errors.New("apifuzz: config needs methods, nodes, a target and clients")
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	if cfg.StreamTimeout <= 0 {
		cfg.StreamTimeout = 300 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	st := newStats()
	var calls atomic.Int64
	var traceMu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < cfg.Clients; i++ {
		c := &fuzzClient{
			id: i, cfg: &cfg, stats: st, calls: &calls, traceMu: &traceMu,
			gen:   NewGen(cfg.Seed+uint64(i)*0x100000001b3, cfg.Words),
			conns: map[string]*grpc.ClientConn{},
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			c.loop(ctx)
		}()
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	return st, nil
}

type fuzzClient struct {
	id      int
	cfg     *Config
	gen     *Gen
	stats   *Stats
	calls   *atomic.Int64
	traceMu *sync.Mutex
	conns   map[string]*grpc.ClientConn
}

func (c *fuzzClient) close() {
	for _, cc := range c.conns {
		_ = cc.Close()
	}
}

func (c *fuzzClient) conn(addr string) (*grpc.ClientConn, error) {
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	cc, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cc
	return cc, nil
}

func (c *fuzzClient) loop(ctx context.Context) {
	for ctx.Err() == nil {
		if max := c.cfg.MaxCalls; max > 0 && c.calls.Load() >= max {
			return
		}
		c.one(ctx)
	}
}

// request is one message to send, as a message or as raw bytes.
type request struct {
	msg proto.Message
	raw []byte // set in raw mode
}

func (c *fuzzClient) pickMode() string {
	switch r := c.gen.R.IntN(20); {
	case r < 2:
		return modeSeed
	case r < 12:
		return modeMutate
	case r < 17:
		return modeRandom
	}
	return modeRaw
}

func (c *fuzzClient) build(md protoreflect.MessageDescriptor, mode string) request {
	seeds := c.cfg.Seeds[md.FullName()]
	seed := func() proto.Message {
		if len(seeds) == 0 {
			return New(md)
		}
		return seeds[c.gen.R.IntN(len(seeds))]
	}
	switch mode {
	case modeSeed:
		return request{msg: seed()}
	case modeMutate:
		return request{msg: c.gen.Mutate(seed())}
	case modeRandom:
		return request{msg: c.gen.Random(md)}
	}
	var b []byte
	if c.gen.chance(4) {
		b, _ = proto.Marshal(c.gen.Random(md))
	} else {
		b, _ = proto.Marshal(seed())
	}
	b = c.gen.MutateBytes(b)
	// The message the bytes decode to, when they do, for Allow.
	m := New(md)
	if proto.Unmarshal(b, m) != nil {
		m = nil
	}
	return request{msg: m, raw: b}
}

func (c *fuzzClient) one(ctx context.Context) {
	m := c.cfg.Methods[c.gen.R.IntN(len(c.cfg.Methods))]
	node := c.gen.R.IntN(c.cfg.Nodes)
	mode := c.pickMode()
	n := 1
	if m.Desc.IsStreamingClient() {
		n = 1 + c.gen.R.IntN(4)
	}
	reqs := make([]request, n)
	for i := range reqs {
		reqs[i] = c.build(m.Desc.Input(), mode)
	}
	// Built before Allow decides, so a refusal (which may depend on
	// timing) never shifts this client's sequence of requests.
	for _, r := range reqs {
		if c.cfg.Allow != nil && r.msg != nil && !c.cfg.Allow(m, r.msg) {
			c.stats.skip(m.FullMethod())
			return
		}
	}
	cc, err := c.conn(c.cfg.Target(m.Service, node))
	if err != nil {
		c.stats.skip(m.FullMethod())
		return
	}
	c.trace(m, node, mode, reqs)
	c.calls.Add(1)
	start := time.Now()
	var st *status.Status
	if m.Streaming() {
		st = c.stream(ctx, cc, m, reqs, mode == modeRaw)
	} else {
		st = c.unary(ctx, cc, m, reqs[0], mode == modeRaw)
	}
	var example func() string
	if suspect(st, mode) {
		example = func() string { return st.Message() + ": " + describe(reqs) }
	}
	c.stats.record(m.FullMethod(), mode, st.Code(), time.Since(start), example)
}

func (c *fuzzClient) unary(ctx context.Context, cc *grpc.ClientConn, m Method, req request, isRaw bool) *status.Status {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	var err error
	if isRaw {
		err = cc.Invoke(ctx, m.FullMethod(), &raw{b: req.raw}, &raw{}, grpc.ForceCodecV2(rawCodec{}))
	} else {
		err = cc.Invoke(ctx, m.FullMethod(), req.msg, New(m.Desc.Output()))
	}
	return status.Convert(err)
}

// stream sends every request, half-closes, and reads a few answers; the
// code is the stream's end, or OK when it was still open after them.
func (c *fuzzClient) stream(ctx context.Context, cc *grpc.ClientConn, m Method, reqs []request, isRaw bool) *status.Status {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StreamTimeout)
	defer cancel()
	var opts []grpc.CallOption
	if isRaw {
		opts = append(opts, grpc.ForceCodecV2(rawCodec{}))
	}
	s, err := cc.NewStream(ctx, m.streamDesc(), m.FullMethod(), opts...)
	if err != nil {
		return status.Convert(err)
	}
	for _, r := range reqs {
		var msg any = r.msg
		if isRaw {
			msg = &raw{b: r.raw}
		}
		if err := s.SendMsg(msg); err != nil {
			break // the status comes with RecvMsg
		}
	}
	_ = s.CloseSend()
	for k := 1 + c.gen.R.IntN(4); k > 0; k-- {
		var resp any = New(m.Desc.Output())
		if isRaw {
			resp = &raw{}
		}
		if err := s.RecvMsg(resp); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return status.Convert(err)
		}
	}
	return nil
}

func (c *fuzzClient) trace(m Method, node int, mode string, reqs []request) {
	if c.cfg.Trace == nil {
		return
	}
	line := fmt.Sprintf("client=%d method=%s node=%d mode=%s", c.id, m.FullMethod(), node, mode)
	for _, r := range reqs {
		b := r.raw
		if b == nil {
			b, _ = proto.Marshal(r.msg)
		}
		line += " " + hex.EncodeToString(b)
	}
	c.traceMu.Lock()
	_, _ = io.WriteString(c.cfg.Trace, line+"\n")
	c.traceMu.Unlock()
}

// suspect reports an answer worth a look: Unknown (an error no code was
// chosen for) or Internal (a server fault), except a raw request's Internal
// from gRPC's own decoding of bytes that are not a message.
func suspect(st *status.Status, mode string) bool {
	switch st.Code() {
	case codes.Unknown:
		return true
	case codes.Internal:
		return mode != modeRaw || !strings.Contains(st.Message(), "failed to unmarshal the received message")
	}
	return false
}

// describe is the requests as text, long values cut.
func describe(reqs []request) string {
	var out string
	for _, r := range reqs {
		s := prototext.MarshalOptions{}.Format(r.msg)
		if len(s) > 400 {
			s = s[:400] + "…"
		}
		out += "{" + s + "} "
	}
	return out
}
