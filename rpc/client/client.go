// Package client is the Go client of the Prism control plane: it talks to
// any node, fails over between endpoints and follows the leader for writes.
package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/internal/grpcconn"
	"github.com/prism/controlplane/rpc/rpcpb"
)

var (
	// ErrNoEndpoints: the client was given no endpoint.
	ErrNoEndpoints = errors.New("client: no endpoints")
	// ErrBadToken: Config.Token holds a character a gRPC header cannot
	// carry (only printable ASCII without spaces). The token itself is
	// never part of an error.
	ErrBadToken = errors.New("client: the token holds characters a request header cannot carry (want printable ASCII without spaces)")
)

// Config configures a Client.
type Config struct {
	// Endpoints are gRPC addresses of any nodes (host:port).
	Endpoints []string
	// AttemptTimeout bounds one attempt on one node, so a node cut off from
	// its quorum costs this much before the client tries the next one.
	// 0 means the whole request deadline. For a watch it bounds the wait
	// for the watch's first message, not its life.
	AttemptTimeout time.Duration
	// WatchBuffer is how many messages a watch may have waiting for its
	// function before that watch alone ends with WATCHER_TOO_SLOW (resume
	// from its last revision). 0 means 16,384: room for a node's whole
	// history (10,000 revisions by default) arriving as one burst when a
	// watch resumes far back. Slots hold shared events, 24 bytes each.
	WatchBuffer int
	// TLS, when set, is how the client dials nodes that serve TLS: the CA
	// to check them with and the client certificate to present
	// (tlsutil.Source.ClientConfig builds one that follows rotated files).
	// Nil: plaintext.
	TLS *tls.Config
	// Token, when set, is a bearer token (an ACL token's secret) sent on
	// every call and stream as the metadata "authorization: Bearer
	// <token>"; the call then acts as the token's identity rather than
	// the client certificate's. It is sent over plaintext too (a --dev
	// cluster), where anyone on the path can read it: use TLS wherever the
	// network is not trusted. Surrounding white space is ignored. Never
	// log a Config that holds one.
	Token string
}

// Client is safe for concurrent use.
type Client struct {
	cfg Config

	mu         sync.Mutex
	conns      map[string]*grpc.ClientConn
	handshakes map[string]*handshakes         // per address, with TLS
	muxes      map[*grpc.ClientConn]*watchMux // watch streams, one per connection
	preferred  int                            // index of the endpoint reads go to first
	leader     string                         // gRPC address of the last known leader
}

// New returns a client; connections are made lazily.
func New(cfg Config) (*Client, error) {
	var eps []string
	for _, e := range cfg.Endpoints {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, ErrNoEndpoints
	}
	cfg.Endpoints = eps
	cfg.Token = strings.TrimSpace(cfg.Token)
	if !validToken(cfg.Token) {
		return nil, ErrBadToken
	}
	if cfg.WatchBuffer <= 0 {
		cfg.WatchBuffer = 16384
	}
	return &Client{cfg: cfg, conns: map[string]*grpc.ClientConn{}, muxes: map[*grpc.ClientConn]*watchMux{}, handshakes: map[string]*handshakes{}}, nil
}

// Close closes every connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, cc := range c.conns {
		_ = cc.Close()
		delete(c.conns, a)
		delete(c.muxes, cc)
	}
	return nil
}

func (c *Client) conn(addr string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cc, ok := c.conns[addr]; ok {
		return cc, nil
	}
	creds := insecure.NewCredentials()
	if c.cfg.TLS != nil {
		h := &handshakes{}
		c.handshakes[addr] = h
		creds = recordingCreds{TransportCredentials: credentials.NewTLS(c.cfg.TLS), h: h}
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
		// While a call or watch is open, ping every 10 s and drop a
		// connection that does not answer in 5 s: a watch on a node that
		// vanished (host down, cable cut: no RST) resumes elsewhere in
		// about 15 s instead of after TCP's retransmission timeout. Nodes
		// allow pings every 5 s (rpc/server.go).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
	}
	if c.cfg.Token != "" {
		// Every call and stream of the connection carries it (watches and
		// snapshots included).
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{header: "Bearer " + c.cfg.Token}))
	}
	cc, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, err
	}
	c.conns[addr] = cc
	return cc, nil
}

// order returns the endpoints to try: for writes the leader first.
func (c *Client) order(write bool) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.cfg.Endpoints)
	out := make([]string, 0, n+1)
	if write && c.leader != "" {
		out = append(out, c.leader)
	}
	for i := 0; i < n; i++ {
		e := c.cfg.Endpoints[(c.preferred+i)%n]
		if e != c.leader || !write {
			out = append(out, e)
		}
	}
	return out
}

func (c *Client) demote(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader == addr {
		c.leader = ""
	}
	if c.cfg.Endpoints[c.preferred%len(c.cfg.Endpoints)] == addr {
		c.preferred = (c.preferred + 1) % len(c.cfg.Endpoints)
	}
}

// learnLeader asks addr who leads, for writes to go there directly.
func (c *Client) learnLeader(ctx context.Context, cc *grpc.ClientConn) {
	st, err := rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{})
	if err != nil || st.LeaderGrpcAddr == "" {
		return
	}
	c.mu.Lock()
	c.leader = st.LeaderGrpcAddr
	c.mu.Unlock()
}

// Leader is the gRPC address of the last known leader ("" when unknown).
func (c *Client) Leader() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// Kinds of calls, for what may be retried on another node.
const (
	read       = iota // retried on any unavailability
	idempotent        // a write that takes effect once however often it is sent (a request id; heartbeats; guarded moves)
	write             // retried only when it certainly was not applied (NO_LEADER, or never sent)
)

// readyWait bounds how long a write that may not be resent waits for its
// connection to be established before trying another node.
const readyWait = time.Second

// do runs call against nodes until it succeeds, fails for good, or ctx ends.
func (c *Client) do(ctx context.Context, kind int, call func(context.Context, *grpc.ClientConn) error) error {
	toLeader := kind != read
	var last error
	maybeSent := false // a write attempt may have reached a server and taken effect
	for attempt := 0; ; attempt++ {
		// A round in which every node failed the TLS handshake ends the
		// call: waiting will not fix a certificate.
		tried, tlsFailed := 0, 0
		for _, addr := range c.order(toLeader) {
			cc, err := c.conn(addr)
			if err != nil {
				last = err
				continue
			}
			if toLeader && c.Leader() == "" {
				lctx, cancel := context.WithTimeout(ctx, time.Second)
				c.learnLeader(lctx, cc)
				cancel()
				if l := c.Leader(); l != "" && l != addr {
					if lc, err := c.conn(l); err == nil {
						addr, cc = l, lc
					}
				}
			}
			// A write that may not be resent waits for its connection; an
			// idempotent one skips a node known unreachable right now and is
			// otherwise sent at once (failover must not wait on a dead node).
			// Either way, a request not sent is known not applied.
			if (kind == write && !grpcconn.Ready(ctx, cc, readyWait)) ||
				(kind == idempotent && cc.GetState() == connectivity.TransientFailure) {
				last = status.Errorf(codes.Unavailable, "client: no connection to %s", addr)
				tried++
				if terr := c.tlsFailure(addr); terr != nil {
					last = terr
					tlsFailed++
				}
				c.demote(addr)
				continue
			}
			actx, cancel := ctx, context.CancelFunc(func() {})
			if c.cfg.AttemptTimeout > 0 {
				actx, cancel = context.WithTimeout(ctx, c.cfg.AttemptTimeout)
			}
			err = call(actx, cc)
			cancel()
			if err == nil {
				return nil
			}
			last = err
			tried++
			if kind != read && !definite(err) {
				maybeSent = true
			}
			if status.Code(err) == codes.Unavailable && ctx.Err() == nil {
				if terr := c.tlsFailure(addr); terr != nil {
					last = terr
					tlsFailed++
					c.demote(addr)
					continue
				}
			}
			if ctx.Err() != nil || !retryable(err, kind) {
				return giveUp(kind, maybeSent, err)
			}
			c.demote(addr)
		}
		if tried > 0 && tlsFailed == tried {
			if kind != read && maybeSent {
				return giveUp(kind, true, status.Error(codes.Unavailable, status.Convert(last).Message()))
			}
			return last
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return giveUp(kind, maybeSent, last)
		case <-time.After(backoff(attempt)):
		}
	}
}

// definite: the answer says what happened to the request: a business
// refusal, or NO_LEADER (not applied). Anything else (a lost connection, a
// timeout, OUTCOME_UNKNOWN) leaves a write's outcome open.
func definite(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.NotFound, codes.AlreadyExists, codes.FailedPrecondition,
		codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted, codes.OutOfRange, codes.Unimplemented:
		return true
	case codes.Unavailable:
		return Reason(err) == rpcpb.ReasonNoLeader
	}
	return false
}

// giveUp is the error a call ends with. For a write it says, as a typed
// reason, whether it may have taken effect: OUTCOME_UNKNOWN once any
// attempt may have reached a server (the last attempt's own error, say a
// refused connection, does not undo an earlier one), NO_LEADER when none
// did. A definite answer is returned as it is.
func giveUp(kind int, maybeSent bool, err error) error {
	if kind == read || definite(err) {
		if kind == read || !maybeSent || status.Code(err) != codes.Unavailable {
			return err
		}
	}
	st, _ := status.FromError(err)
	code := st.Code()
	if code != codes.DeadlineExceeded && code != codes.Canceled {
		code = codes.Unavailable
	}
	reason, msg := rpcpb.ReasonNoLeader, "not applied: "+st.Message()
	if maybeSent {
		reason, msg = rpcpb.ReasonUncertain, "outcome unknown: an attempt may have been applied: "+st.Message()
	}
	if Reason(err) == reason {
		return err
	}
	withInfo, derr := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Domain: rpcpb.ErrorDomain, Reason: reason})
	if derr != nil {
		return err
	}
	return withInfo.Err()
}

func backoff(attempt int) time.Duration {
	d := 50 * time.Millisecond << min(attempt, 4)
	return d
}

// retryable: another node may succeed, and trying again cannot apply a
// write twice. Reads and idempotent writes retry on any unavailability;
// other writes only when the server said it did not apply them (a
// connection that never opened is caught before sending: grpcconn.Ready).
// A refused identity (Unauthenticated, PermissionDenied) is never retried:
// every node of the cluster judges a token or certificate the same way.
func retryable(err error, kind int) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable:
	case codes.DeadlineExceeded: // an attempt's own timeout (AttemptTimeout)
		return kind != write
	default:
		return false
	}
	if kind != write {
		return true
	}
	return Reason(err) == rpcpb.ReasonNoLeader
}

// Reason is the ErrorInfo reason of a server error ("" when none).
func Reason(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.Reason
		}
	}
	return ""
}

// FieldViolations lists the field errors of an InvalidArgument error.
func FieldViolations(err error) []string {
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	var out []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				out = append(out, fmt.Sprintf("%s: %s", v.Field, v.Description))
			}
		}
	}
	return out
}

// CurrentRevision is the revision a FailedPrecondition mismatch reported.
func CurrentRevision(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok {
		return "", false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == rpcpb.ReasonRevisionMismatch {
			return info.Metadata["current_revision"], true
		}
	}
	return "", false
}

// Apply creates or updates a namespace. It carries a request id (a random
// one unless the caller set one), the same on every attempt, and the state
// machine applies an id at most once: so Apply is retried through
// failovers like a read, and an attempt given up on that is delivered late
// (held up in a partition) changes nothing. Without the id, a late copy of
// an unconditional apply re-created a namespace deleted meanwhile
// (jepsen/README.md, bug 5).
func (c *Client) Apply(ctx context.Context, req *rpcpb.ApplyRequest) (resp *rpcpb.ApplyResponse, err error) {
	kind := idempotent
	if req.DryRun {
		kind = read
	} else if req.RequestId == "" {
		req = proto.Clone(req).(*rpcpb.ApplyRequest)
		req.RequestId = rpcpb.NewRequestID()
	}
	err = c.do(ctx, kind, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewNamespaceServiceClient(cc).Apply(ctx, req)
		return e
	})
	return resp, err
}

// Delete starts a namespace's deletion. Like Apply it carries a request
// id kept across retries, so it is retried through failovers and a late
// copy cannot delete a namespace re-created meanwhile.
func (c *Client) Delete(ctx context.Context, req *rpcpb.DeleteRequest) (resp *rpcpb.DeleteResponse, err error) {
	if req.RequestId == "" {
		req = proto.Clone(req).(*rpcpb.DeleteRequest)
		req.RequestId = rpcpb.NewRequestID()
	}
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewNamespaceServiceClient(cc).Delete(ctx, req)
		return e
	})
	return resp, err
}

// Reconcile asks the leader to reconcile a namespace now.
func (c *Client) Reconcile(ctx context.Context, req *rpcpb.ReconcileRequest) (resp *rpcpb.ReconcileResponse, err error) {
	if req.RequestId == "" {
		req = proto.Clone(req).(*rpcpb.ReconcileRequest)
		req.RequestId = rpcpb.NewRequestID()
	}
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewNamespaceServiceClient(cc).Reconcile(ctx, req)
		return e
	})
	return resp, err
}

// Get reads one namespace.
func (c *Client) Get(ctx context.Context, req *rpcpb.GetRequest) (resp *rpcpb.GetResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewNamespaceServiceClient(cc).Get(ctx, req)
		return e
	})
	return resp, err
}

// List reads namespaces.
func (c *Client) List(ctx context.Context, req *rpcpb.ListRequest) (resp *rpcpb.ListResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewNamespaceServiceClient(cc).List(ctx, req)
		return e
	})
	return resp, err
}

// Status asks one reachable node for its view of the cluster; with detail,
// that node also asks every server how far it has applied.
func (c *Client) Status(ctx context.Context, detail bool) (resp *rpcpb.StatusResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{Detail: detail})
		return e
	})
	return resp, err
}

// StatusOf asks one specific node (no failover).
func (c *Client) StatusOf(ctx context.Context, addr string) (*rpcpb.StatusResponse, error) {
	cc, err := c.conn(addr)
	if err != nil {
		return nil, err
	}
	return rpcpb.NewClusterServiceClient(cc).Status(ctx, &rpcpb.StatusRequest{})
}

// Members lists gossip members as one reachable node sees them.
func (c *Client) Members(ctx context.Context) (resp *rpcpb.MembersResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewClusterServiceClient(cc).Members(ctx, &rpcpb.MembersRequest{})
		return e
	})
	return resp, err
}

// TransferLeader asks the cluster to hand leadership to toID (any voter when empty).
func (c *Client) TransferLeader(ctx context.Context, toID string) (resp *rpcpb.TransferLeaderResponse, err error) {
	err = c.do(ctx, write, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewClusterServiceClient(cc).TransferLeader(ctx, &rpcpb.TransferLeaderRequest{ToId: toID})
		return e
	})
	c.mu.Lock()
	c.leader = "" // learn it again
	c.mu.Unlock()
	return resp, err
}

// RemovePeer removes a server from raft.
func (c *Client) RemovePeer(ctx context.Context, id string, force bool) error {
	return c.do(ctx, write, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, e := rpcpb.NewClusterServiceClient(cc).RemovePeer(ctx, &rpcpb.RemovePeerRequest{Id: id, Force: force})
		return e
	})
}

// SaveSnapshot returns a linearizable snapshot stream from any node.
func (c *Client) SaveSnapshot(ctx context.Context) (data []byte, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewSnapshotServiceClient(cc).Save(ctx, &rpcpb.SnapshotSaveRequest{})
		if err != nil {
			return err
		}
		var buf []byte
		for {
			chunk, err := st.Recv()
			if err == io.EOF {
				data = buf
				return nil
			}
			if err != nil {
				return err
			}
			buf = append(buf, chunk.Data...)
		}
	})
	return data, err
}

// RestoreSnapshot sends a snapshot stream to the leader, which installs it.
// Like every write it goes to the leader first (asking a node who leads
// when none is known). A node that cannot restore answers before reading
// the upload: Send then reports io.EOF, the rest is not sent, and the
// answer (not the leader: try the next node) comes from CloseAndRecv.
func (c *Client) RestoreSnapshot(ctx context.Context, data []byte) (resp *rpcpb.SnapshotRestoreResponse, err error) {
	err = c.do(ctx, write, func(ctx context.Context, cc *grpc.ClientConn) error {
		st, err := rpcpb.NewSnapshotServiceClient(cc).Restore(ctx)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); off += 256 << 10 {
			err := st.Send(&rpcpb.SnapshotChunk{Data: data[off:min(off+256<<10, len(data))]})
			if err == io.EOF {
				break // the node answered already
			}
			if err != nil {
				return err
			}
		}
		resp, err = st.CloseAndRecv()
		return err
	})
	return resp, err
}

// RegisterShard registers (or re-registers) a shard, with a request id
// kept across retries (see Apply): a late duplicate cannot bring back a
// shard removed meanwhile.
func (c *Client) RegisterShard(ctx context.Context, spec *fsmpb.ShardSpec) (resp *rpcpb.ShardResponse, err error) {
	id := rpcpb.NewRequestID()
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewShardServiceClient(cc).Register(ctx, &rpcpb.RegisterShardRequest{Spec: spec, RequestId: id})
		return e
	})
	return resp, err
}

// Heartbeat renews a shard's session through any node (idempotent).
// ready lists namespaces moving to the shard that it is ready to serve.
func (c *Client) Heartbeat(ctx context.Context, shardID, session string, ready []string) (resp *rpcpb.HeartbeatResponse, err error) {
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewShardServiceClient(cc).Heartbeat(ctx, &rpcpb.HeartbeatRequest{ShardId: shardID, Session: session, Ready: ready})
		return e
	})
	return resp, err
}

// GetShard reads one shard.
func (c *Client) GetShard(ctx context.Context, id string, cons rpcpb.Consistency) (resp *rpcpb.ShardResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewShardServiceClient(cc).Get(ctx, &rpcpb.GetShardRequest{Id: id, Consistency: cons})
		return e
	})
	return resp, err
}

// ListShards reads every shard.
func (c *Client) ListShards(ctx context.Context, cons rpcpb.Consistency) (resp *rpcpb.ListShardsResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewShardServiceClient(cc).List(ctx, &rpcpb.ListShardsRequest{Consistency: cons})
		return e
	})
	return resp, err
}

// DrainShard marks a shard draining (undrain: false brings it back up),
// with a request id kept across retries (see Apply).
func (c *Client) DrainShard(ctx context.Context, id string, drain bool) (resp *rpcpb.ShardResponse, err error) {
	req := &rpcpb.ShardIDRequest{Id: id, RequestId: rpcpb.NewRequestID()}
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		sc := rpcpb.NewShardServiceClient(cc)
		if drain {
			resp, e = sc.Drain(ctx, req)
		} else {
			resp, e = sc.Undrain(ctx, req)
		}
		return e
	})
	return resp, err
}

// RemoveShard removes a shard that serves no namespace (with a request id
// kept across retries).
func (c *Client) RemoveShard(ctx context.Context, id string) error {
	req := &rpcpb.ShardIDRequest{Id: id, RequestId: rpcpb.NewRequestID()}
	return c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) error {
		_, e := rpcpb.NewShardServiceClient(cc).Remove(ctx, req)
		return e
	})
}

// Assign pins a namespace to a shard ("" unassigns), with a request id
// kept across retries (see Apply).
func (c *Client) Assign(ctx context.Context, name, shardID string) (resp *rpcpb.AssignResponse, err error) {
	req := &rpcpb.AssignRequest{Name: name, ShardId: shardID, RequestId: rpcpb.NewRequestID()}
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewPlacementServiceClient(cc).Assign(ctx, req)
		return e
	})
	return resp, err
}

// PlacementPlan is what the placement engine would change now.
func (c *Client) PlacementPlan(ctx context.Context) (resp *rpcpb.PlanResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewPlacementServiceClient(cc).Plan(ctx, &rpcpb.PlanRequest{})
		return e
	})
	return resp, err
}

// Explain shows every shard's verdict for a namespace.
func (c *Client) Explain(ctx context.Context, name string) (resp *rpcpb.ExplainResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewPlacementServiceClient(cc).Explain(ctx, &rpcpb.ExplainRequest{Name: name})
		return e
	})
	return resp, err
}

// Rebalance plans (dryRun) or runs a rebalance under a move budget (0:
// the default). Its moves are guarded by revision, so a retry is safe.
func (c *Client) Rebalance(ctx context.Context, dryRun bool, maxMoves int) (resp *rpcpb.PlanResponse, err error) {
	kind := idempotent
	if dryRun {
		kind = read
	}
	err = c.do(ctx, kind, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewPlacementServiceClient(cc).Rebalance(ctx, &rpcpb.RebalanceRequest{DryRun: dryRun, MaxMoves: int32(maxMoves)})
		return e
	})
	return resp, err
}

// watchOne runs a watch on a stream of its own (the Watch RPC).
func watchOne(ctx context.Context, cc *grpc.ClientConn, r *rpcpb.WatchRequest, handle func([]*rpcpb.WatchEvent) error) error {
	st, err := rpcpb.NewWatchServiceClient(cc).Watch(ctx, r)
	if err != nil {
		return err
	}
	for {
		resp, err := st.Recv()
		if err != nil {
			return err
		}
		if err := handle(resp.Events); err != nil {
			return err
		}
	}
}

// Watch streams changes to fn until ctx ends or fn returns an error. It
// resumes across node failures from the last revision it delivered, on any
// endpoint. A compacted start, a reset or a cut slow watcher end the watch
// with the server's error (see Reason): list again, or resume. When a
// listing (FromRevision 0) breaks off before its closing bookmark, fn gets a
// "reset" event before the state is listed again.
//
// The watches of a Client share one stream per connection (WatchService
// Watches), and one event may be handed to every watch it is for: fn must
// not modify it. fn runs on the caller's goroutine; a watch whose fn falls
// Config.WatchBuffer messages behind ends with WATCHER_TOO_SLOW, alone.
func (c *Client) Watch(ctx context.Context, req *rpcpb.WatchRequest, fn func(*rpcpb.WatchEvent) error) error {
	from := req.FromRevision
	listing := from == 0
	listed := 0 // events of an unfinished listing already given to fn
	var fnErr error
	for attempt := 0; ; attempt++ {
		r := proto.Clone(req).(*rpcpb.WatchRequest)
		r.FromRevision = from
		err := c.do(ctx, read, func(actx context.Context, cc *grpc.ClientConn) error {
			if listing && listed > 0 {
				// A listing broke off before its bookmark: tell fn to drop
				// what it was given, since the state is listed again.
				listed = 0
				if fnErr = fn(&rpcpb.WatchEvent{Type: "reset"}); fnErr != nil {
					return fnErr
				}
			}
			handle := func(events []*rpcpb.WatchEvent) error {
				for _, e := range events {
					if fnErr = fn(e); fnErr != nil {
						return fnErr
					}
					if listing {
						listed++
					}
					switch {
					case listing:
						// The state is not in revision order: it counts
						// only once its closing bookmark has arrived.
						if e.Type == "bookmark" {
							listing, from = false, e.Revision
						}
					case e.Revision > from && e.Type != "reset":
						from = e.Revision
					}
				}
				r.FromRevision = from // a retry by do resumes here
				return nil
			}
			m := c.watchMux(cc)
			if m.legacy.Load() {
				return watchOne(actx, cc, r, handle)
			}
			err := m.watch(ctx, actx, r, handle)
			if fnErr == nil && status.Code(err) == codes.Unimplemented {
				m.legacy.Store(true) // a node from before Watches
				err = watchOne(actx, cc, r, handle)
			}
			return err
		})
		if fnErr != nil || ctx.Err() != nil {
			return errors.Join(fnErr, ctx.Err())
		}
		if err == nil || err == io.EOF {
			// The node ended the stream cleanly (shutting down, say):
			// resume, after a pause so a node that keeps doing so is not
			// hammered.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff(min(attempt, 2))):
			}
			continue
		}
		return err
	}
}
