package fsm

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// MaxTokens bounds the ACL tokens the state holds; expired ones are
// dropped when a token is created.
const MaxTokens = 10000

// SecretHashLen is the length of a token's secret hash (SHA-256).
const SecretHashLen = 32

// MaxTokenDescriptionBytes bounds a token's description.
const MaxTokenDescriptionBytes = 256

// aclState is the ACL tokens. Token changes do not move the cluster
// revision (they are not objects watchers see, and not archived); they
// are in the log and in snapshots, with secret hashes, never secrets.
type aclState struct {
	tokens       map[string]*fsmpb.Token // by id; stored records are immutable
	byHash       map[string]string       // secret hash -> id
	bootstrapped bool
}

func newACLState() aclState {
	return aclState{tokens: map[string]*fsmpb.Token{}, byHash: map[string]string{}}
}

func (a *aclState) add(t *fsmpb.Token) error {
	if _, dup := a.tokens[t.Id]; dup {
		return fmt.Errorf("%w: token id %s exists", ErrFailedPrecondition, t.Id)
	}
	if _, dup := a.byHash[string(t.SecretHash)]; dup {
		return fmt.Errorf("%w: a token with that secret exists", ErrFailedPrecondition)
	}
	if len(a.tokens) >= MaxTokens {
		return fmt.Errorf("%w: %d tokens exist, the most a cluster holds; revoke some", ErrFailedPrecondition, MaxTokens)
	}
	a.tokens[t.Id] = t
	a.byHash[string(t.SecretHash)] = t.Id
	return nil
}

func (a *aclState) remove(id string) {
	if t, ok := a.tokens[id]; ok {
		delete(a.byHash, string(t.SecretHash))
		delete(a.tokens, id)
	}
}

// Expired: t has an expiry at or before unixNano.
func Expired(t *fsmpb.Token, unixNano int64) bool {
	return t.GetExpiresUnixNano() != 0 && t.GetExpiresUnixNano() <= unixNano
}

// Public is a token without its secret hash: what results and the API show.
func Public(t *fsmpb.Token) *fsmpb.Token {
	if t == nil {
		return nil
	}
	c := proto.Clone(t).(*fsmpb.Token)
	c.SecretHash = nil
	return c
}

func init() {
	register("bootstrap_acl", bootstrapACL)
	register("create_token", createToken)
	register("revoke_token", revokeToken)
}

// newToken is the token a command stores: the leader's time as its
// creation, the principal that made it.
func newToken(t *fsmpb.Token, cmd *fsmpb.Command, ttlSeconds int64) *fsmpb.Token {
	st := proto.Clone(t).(*fsmpb.Token)
	st.CreatedUnixNano = cmd.UnixNano
	st.CreatedBy = acl.FromProto(cmd.GetPrincipal()).String()
	if ttlSeconds > 0 {
		st.ExpiresUnixNano = cmd.UnixNano + ttlSeconds*1e9
	}
	return st
}

// bootstrapACL mints the first admin token, once in the cluster's life.
func bootstrapACL(s *state, cmd *fsmpb.Command) Result {
	if s.acl.bootstrapped {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: ACLs were bootstrapped already: ask an admin for a token", ErrFailedPrecondition)}
	}
	t := newToken(cmd.GetBootstrapAcl().GetToken(), cmd, 0)
	if err := s.acl.add(t); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	s.acl.bootstrapped = true
	return Result{Revision: s.revision, Token: Public(t)}
}

func createToken(s *state, cmd *fsmpb.Command) Result {
	b := cmd.GetCreateToken()
	for id, t := range s.acl.tokens {
		if Expired(t, cmd.UnixNano) {
			s.acl.remove(id) // order-independent: every expired one goes
		}
	}
	t := newToken(b.GetToken(), cmd, b.GetTtlSeconds())
	if err := s.acl.add(t); err != nil {
		return Result{Revision: s.revision, Err: err}
	}
	return Result{Revision: s.revision, Token: Public(t)}
}

func revokeToken(s *state, cmd *fsmpb.Command) Result {
	id := cmd.GetRevokeToken().GetId()
	t, ok := s.acl.tokens[id]
	if !ok {
		return Result{Revision: s.revision, Err: fmt.Errorf("%w: %s", ErrTokenNotFound, id)}
	}
	if !revokeKeepsToken {
		s.acl.remove(id)
	}
	return Result{Revision: s.revision, Token: Public(t), Deleted: true}
}

// authorize checks a client's command again, inside apply, against the
// principal the edge node stamped into it (when that node enforced ACLs)
// and the state it applies to: a token revoked or expired since the edge
// checked it, or an owner removed, makes the command change nothing.
func (s *state) authorize(cmd *fsmpb.Command, body string) error {
	pp := cmd.GetPrincipal()
	if !pp.GetEnforce() {
		return nil
	}
	p := acl.FromProto(pp)
	if p.TokenID != "" {
		t, ok := s.acl.tokens[p.TokenID]
		switch {
		case !ok:
			return fmt.Errorf("%w: token %s was revoked", acl.ErrPermissionDenied, p.TokenID)
		case Expired(t, cmd.UnixNano):
			return fmt.Errorf("%w: token %s expired", acl.ErrPermissionDenied, p.TokenID)
		case t.Kind != p.Kind || t.Name != p.Name:
			return fmt.Errorf("%w: the principal %s is not token %s's", acl.ErrPermissionDenied, p, p.TokenID)
		}
	}
	switch body {
	case "apply_namespace":
		spec := cmd.GetApplyNamespace().GetSpec()
		cur, _ := s.live(spec.GetName())
		return acl.CheckNamespaceWrite(p, spec.GetName(), cur, spec)
	case "delete_namespace":
		name := cmd.GetDeleteNamespace().GetName()
		cur, _ := s.live(name)
		return acl.CheckNamespaceWrite(p, name, cur, nil)
	case "reconcile_namespace":
		name := cmd.GetReconcileNamespace().GetName()
		cur, _ := s.live(name)
		return acl.CheckNamespaceWrite(p, name, cur, nil)
	case "register_shard":
		return acl.CheckActAsShard(p, cmd.GetRegisterShard().GetSpec().GetId())
	case "set_shard_state", "remove_shard", "assign_namespace":
		return acl.Require(p, acl.RoleOperator)
	case "bootstrap_acl":
		return nil
	}
	return acl.Require(p, acl.RoleAdmin)
}

// TokenByHash is the token whose secret hashes to h.
func (f *FSM) TokenByHash(h []byte) (*fsmpb.Token, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	id, ok := f.s.acl.byHash[string(h)]
	if !ok {
		return nil, false
	}
	return f.s.acl.tokens[id], true
}

// TokenExists: a token with this id is held (revoked ones are not).
func (f *FSM) TokenExists(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.s.acl.tokens[id]
	return ok
}

// Tokens lists the tokens by id, without their secret hashes.
func (f *FSM) Tokens() []*fsmpb.Token {
	f.mu.RLock()
	out := make([]*fsmpb.Token, 0, len(f.s.acl.tokens))
	for _, t := range f.s.acl.tokens {
		out = append(out, Public(t))
	}
	f.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Id < out[j].Id })
	return out
}

// ACLBootstrapped: the bootstrap token was minted.
func (f *FSM) ACLBootstrapped() bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.s.acl.bootstrapped
}

// checkTokenRecord checks a stored token (from a command or a snapshot).
func checkTokenRecord(v *validator, path string, t *fsmpb.Token) {
	if t == nil {
		v.add(path, "required")
		return
	}
	if !acl.ValidTokenID(t.Id) {
		v.add(path+".id", "must be %d lower-case hex digits", acl.TokenIDLen)
	}
	if len(t.SecretHash) != SecretHashLen {
		v.add(path+".secret_hash", "must be %d bytes (SHA-256)", SecretHashLen)
	}
	if err := acl.CheckSubject(t.Kind, t.Name); err != nil {
		v.add(path, "%v", err)
	}
	if len(t.Description) > MaxTokenDescriptionBytes {
		v.add(path+".description", "%d bytes, at most %d", len(t.Description), MaxTokenDescriptionBytes)
	}
	if t.ExpiresUnixNano < 0 || t.CreatedUnixNano < 0 {
		v.add(path, "times must not be negative")
	}
	if len(t.CreatedBy) > 2*acl.MaxNameLen {
		v.add(path+".created_by", "at most %d bytes", 2*acl.MaxNameLen)
	}
}
