package workload

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/jepsen/history"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// The acl workload (needs --secure): an admin mints a team token per
// round, the team creates and updates the namespace it owns, the admin
// revokes the token, and writers keep writing with that token (and with
// a team that owns nothing) through random nodes, during the faults. The
// acl checker judges what was acknowledged after each revocation was.

// ACLPrefix names the workload's namespaces: acl-<n>, owned by team t<n>.
const ACLPrefix = "acl-"

// OutsiderTeam is a team whose token the writers also use on acl-*
// namespaces, which it never owns: every such write must be refused.
const OutsiderTeam = "outsider"

// aclKeep is how many of the newest round tokens the writers pick from
// (the live one and those revoked before it).
const aclKeep = 6

type aclToken struct {
	id, secret string
	principal  string // team/NAME
	key        string // the namespace it owns ("" for the outsider)
}

// ACLTokens is what the admin shares with the writers: the newest round
// tokens and the outsider's. Secrets stay in memory only.
type ACLTokens struct {
	mu       sync.Mutex
	recent   []aclToken // newest last
	outsider aclToken
}

func (p *ACLTokens) add(t aclToken) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recent = append(p.recent, t)
	if len(p.recent) > aclKeep {
		p.recent = p.recent[len(p.recent)-aclKeep:]
	}
}

// pick chooses a token and the namespace to write with it, and that
// namespace's owner: often the newest round's token (live, or being
// revoked), else an older (revoked) one, sometimes the outsider on one of
// their namespaces.
func (p *ACLTokens) pick(rng *rand.Rand) (tok aclToken, key, owner string, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.recent) == 0 {
		return tok, "", "", false
	}
	r := rng.Intn(100)
	t := p.recent[len(p.recent)-1]
	if r >= 50 {
		t = p.recent[rng.Intn(len(p.recent))]
	}
	if r < 15 && p.outsider.id != "" {
		return p.outsider, t.key, t.principal, true
	}
	return t, t.key, t.principal, true
}

// aclSpec is an acl-* namespace's spec: the register spec (value val)
// owned by owner (team/NAME).
func aclSpec(key, owner string, val int64) *fsmpb.NamespaceSpec {
	spec := Spec(key, val)
	kind, name, _ := strings.Cut(owner, "/")
	spec.Access = &fsmpb.Access{Owners: []*fsmpb.Owner{{Kind: kind, Name: name}}}
	return spec
}

// code is err's gRPC code as a word ("" for none).
func code(err error) string {
	if err == nil {
		return ""
	}
	return status.Code(err).String()
}

// mintToken creates a team token as admin and records it; ok only with
// its secret in hand (an unknown outcome may leave a token nobody holds).
func mintToken(ctx context.Context, env *Env, admin *client.Client, proc int, team, key string) (aclToken, bool) {
	op := history.Op{Process: proc, Type: history.ACLToken, Key: key, Principal: "team/" + team, Call: env.Rec.Now()}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
	resp, err := admin.CreateToken(actx, &rpcpb.CreateTokenRequest{Kind: "team", Name: team, Description: "jepsen acl workload"})
	cancel()
	op.Return = env.Rec.Now()
	setOutcome(&op, err)
	op.Code = code(err)
	var t aclToken
	if err == nil {
		op.Token = resp.GetToken().GetId()
		t = aclToken{id: op.Token, secret: resp.GetSecret(), principal: op.Principal, key: key}
	}
	env.Rec.Add(op)
	return t, err == nil
}

// ACLSetup mints the outsider's token (retrying until it has one or ctx
// ends) and returns the tokens the admin and the writers share.
func ACLSetup(ctx context.Context, env *Env) (*ACLTokens, error) {
	admin := env.Client(0)
	defer admin.Close()
	for {
		if t, ok := mintToken(ctx, env, admin, 500, OutsiderTeam, ""); ok {
			return &ACLTokens{outsider: t}, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("acl setup: no token for team %s", OutsiderTeam)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ACLAdmin runs the admin's rounds until ctx ends: mint a token for team
// t<n>, let the team write acl-<n> (create, then updates) through the
// client's own failover, leave it live a little for the writers, revoke
// it (again until acknowledged: a revocation is idempotent; NotFound
// after an unknown attempt means it was done), then the next round.
func ACLAdmin(ctx context.Context, env *Env, proc, pref int, seed int64, pool *ACLTokens) {
	rng := rand.New(rand.NewSource(seed))
	admin := env.Client(pref)
	defer admin.Close()
	counter := int64(0)
	for n := 1; ctx.Err() == nil; n++ {
		key, team := fmt.Sprintf("%s%d", ACLPrefix, n), fmt.Sprintf("t%d", n)
		tok, ok := mintToken(ctx, env, admin, proc, team, key)
		if !ok {
			pause(ctx, 200*time.Millisecond)
			continue
		}
		pool.add(tok)
		owner := env.ClientAs(rng.Intn(len(env.Endpoints)), tok.secret)
		for i := 0; i < 3 && ctx.Err() == nil; i++ {
			counter++
			op := history.Op{Process: proc, Type: history.ACLWrite, Key: key, Token: tok.id, Principal: tok.principal,
				Owners: []string{tok.principal}, Val: int64(proc)*1_000_000 + counter}
			err := aclWrite(ctx, env, &op, func(actx context.Context, req *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
				return owner.Apply(actx, req)
			})
			if err != nil {
				pause(ctx, 50*time.Millisecond)
			}
		}
		owner.Close()
		pause(ctx, time.Duration(100+rng.Intn(300))*time.Millisecond)
		revoke(ctx, env, admin, proc, tok)
		pause(ctx, time.Duration(300+rng.Intn(500))*time.Millisecond)
	}
}

// aclWrite makes op's write of acl namespace op.Key (owned by
// op.Owners[0], value op.Val) with apply and records it, timed, with its
// outcome and code.
func aclWrite(ctx context.Context, env *Env, op *history.Op, apply func(context.Context, *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error)) error {
	op.Call = env.Rec.Now()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
	resp, err := apply(actx, &rpcpb.ApplyRequest{Spec: aclSpec(op.Key, op.Owners[0], op.Val)})
	cancel()
	op.Return = env.Rec.Now()
	setOutcome(op, err)
	op.Code = code(err)
	if err == nil {
		op.Rev = resp.Namespace.GetRevision()
	}
	env.Rec.Add(*op)
	return err
}

// revoke revokes tok until that is acknowledged or ctx ends, recording
// every attempt.
func revoke(ctx context.Context, env *Env, admin *client.Client, proc int, tok aclToken) {
	for {
		op := history.Op{Process: proc, Type: history.ACLRevoke, Key: tok.key, Token: tok.id, Principal: tok.principal, Call: env.Rec.Now()}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), env.OpTimeout)
		err := admin.RevokeToken(actx, tok.id)
		cancel()
		op.Return = env.Rec.Now()
		op.Code = code(err)
		if status.Code(err) == codes.NotFound {
			// Only this worker revokes, and the token existed: an earlier
			// attempt of unknown outcome (or the client's own retry) did it.
			op.Outcome, op.Err = history.OK, "revoked already: "+short(err)
		} else {
			setOutcome(&op, err)
		}
		env.Rec.Add(op)
		if op.Outcome == history.OK || ctx.Err() != nil {
			return
		}
		pause(ctx, 100*time.Millisecond)
	}
}

// ACLWriter writes acl-* namespaces until ctx ends with the tokens of
// pool, each write straight to a random node (one connection per node,
// no client failover: the node it reaches checks the token first, then
// forwards to the leader, whose state machine checks it again).
func ACLWriter(ctx context.Context, env *Env, proc int, seed int64, pool *ACLTokens) {
	rng := rand.New(rand.NewSource(seed))
	var conns []rpcpb.NamespaceServiceClient
	for _, ep := range env.Endpoints {
		opt := grpc.WithTransportCredentials(credentials.NewTLS(env.TLS))
		cc, err := grpc.NewClient(ep, opt)
		if err != nil {
			return
		}
		defer cc.Close()
		conns = append(conns, rpcpb.NewNamespaceServiceClient(cc))
	}
	counter := int64(0)
	for ctx.Err() == nil {
		tok, key, owner, ok := pool.pick(rng)
		if !ok {
			pause(ctx, 50*time.Millisecond)
			continue
		}
		i := rng.Intn(len(conns))
		counter++
		op := history.Op{Process: proc, Type: history.ACLWrite, Key: key, Token: tok.id, Principal: tok.principal,
			Owners: []string{owner}, Node: fmt.Sprintf("n%d", i+1), Val: int64(proc)*1_000_000 + counter}
		err := aclWrite(ctx, env, &op, func(actx context.Context, req *rpcpb.ApplyRequest) (*rpcpb.ApplyResponse, error) {
			return conns[i].Apply(metadata.AppendToOutgoingContext(actx, "authorization", "Bearer "+tok.secret), req)
		})
		d := time.Duration(20+rng.Intn(40)) * time.Millisecond
		if err != nil && op.Outcome != history.Fail {
			d += 50 * time.Millisecond
		}
		pause(ctx, d)
	}
}

// ACLFinalReads records, after healing, the value of every acl-*
// namespace from one linearizable listing (retried until it succeeds or
// ctx ends): a write the cluster refused must not be what it holds.
func ACLFinalReads(ctx context.Context, env *Env, proc int) error {
	c := env.Client(0)
	defer c.Close()
	var last error
	for ctx.Err() == nil {
		call := env.Rec.Now()
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := c.List(actx, &rpcpb.ListRequest{Consistency: rpcpb.Consistency_CONSISTENCY_LINEARIZABLE})
		cancel()
		if err == nil {
			ret := env.Rec.Now()
			for _, ns := range resp.Namespaces {
				if name := ns.GetSpec().GetName(); strings.HasPrefix(name, ACLPrefix) {
					env.Rec.Add(history.Op{Process: proc, Type: history.ACLFinal, Key: name, Call: call, Return: ret,
						Outcome: history.OK, Val: Value(ns), Rev: ns.GetRevision(), Final: true, Node: resp.Header.GetNodeId()})
				}
			}
			return nil
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	return fmt.Errorf("acl final listing: %v", last)
}
