package fsm

import (
	"fmt"
	"unicode/utf8"

	"github.com/prism/controlplane/acl"
	"github.com/prism/controlplane/fsm/fsmpb"
)

// Origin is who proposes a command. What a command may contain depends on
// it: clients change specs and operator states, the leader's own
// controllers drive lifecycles.
type Origin int

const (
	// FromClient: built from a public API request on any node, or received
	// from another node over the network (a forwarded write).
	FromClient Origin = iota
	// FromLeader: the leader's own controllers (lifecycle, placement,
	// moves, sessions, restore), proposed on the leader and never forwarded.
	FromLeader
)

func (o Origin) String() string {
	if o == FromLeader {
		return "leader"
	}
	return "client"
}

// MaxRevision bounds the cluster revision (and a restored snapshot's), far
// below the int64 limit: one bump per change can never reach it, so the
// revision never overflows.
const MaxRevision int64 = 1 << 62

// MaxReasonBytes bounds a status or state reason (proposers cut longer
// ones with TruncateReason).
const MaxReasonBytes = 4096

// MaxClusterIDBytes bounds a cluster id.
const MaxClusterIDBytes = 128

// clientBodies are the bodies a client-originated command may carry. The
// lifecycle (status changes, purges), the cluster id, no-ops and the
// phases after a move's start are the leader's alone.
var clientBodies = map[string]bool{
	"apply_namespace":  true,
	"delete_namespace": true,
	"register_shard":   true,
	"set_shard_state":  true, // drain and undrain only
	"remove_shard":     true,
	"assign_namespace": true,

	"reconcile_namespace": true,

	"bootstrap_acl": true,
	"create_token":  true,
	"revoke_token":  true,
}

// ValidateCommand checks, before a command is proposed, that this binary
// can apply it and that its origin may send it: a body is set and known,
// ids and reasons are bounded, enums are known, and fields only internal
// paths set are absent. Every problem is listed with its field path. A
// command that passes is safe to put in the log; replicas still panic on
// an entry they cannot apply (version skew), which no API path can produce.
func ValidateCommand(cmd *fsmpb.Command, o Origin) error {
	v := &validator{}
	checkCommand(v, cmd, o)
	if len(v.errs) > 0 {
		return &ValidationError{Fields: v.errs}
	}
	return nil
}

func checkCommand(v *validator, cmd *fsmpb.Command, o Origin) {
	if cmd == nil {
		v.add("command", "required")
		return
	}
	if n := len(cmd.RequestId); n > MaxRequestIDBytes {
		v.add("command.request_id", "%d bytes, at most %d", n, MaxRequestIDBytes)
	}
	if len(cmd.ProtoReflect().GetUnknown()) > 0 {
		v.add("command", "has fields this binary does not know")
	}
	if cmd.Principal != nil {
		if err := acl.CheckPrincipal(acl.FromProto(cmd.Principal)); err != nil {
			v.add("command.principal", "%v", err)
		}
	}
	name := BodyName(cmd)
	if name == "" {
		v.add("command.body", "required: no body set, or one this binary does not know")
		return
	}
	if _, ok := handlers[name]; !ok {
		v.add("command."+name, "this binary cannot apply it")
		return
	}
	if o == FromClient && !clientBodies[name] {
		v.add("command."+name, "set only by the leader's controllers, not by a client")
		return
	}
	p := "command." + name
	switch name {
	case "noop":
		if f := cmd.GetNoop().GetRevisionFloor(); f != 0 {
			v.add(p+".revision_floor", "set only by a restore, got %d", f)
		}
	case "apply_namespace":
		b := cmd.GetApplyNamespace()
		if b.Spec == nil {
			v.add(p+".spec", "required")
		} else {
			v.errs = append(v.errs, ValidateSpec(b.Spec)...)
		}
		revisionArg(v, p+".expected_revision", b.ExpectedRevision)
	case "delete_namespace":
		b := cmd.GetDeleteNamespace()
		v.dnsName(p+".name", b.Name)
		revisionArg(v, p+".expected_revision", b.ExpectedRevision)
	case "set_namespace_status":
		b := cmd.GetSetNamespaceStatus()
		v.dnsName(p+".name", b.Name)
		enum(v, p+".status", fsmpb.NamespaceStatus_name, int32(b.Status), false)
		reason(v, p+".reason", b.Reason)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "purge_namespace":
		b := cmd.GetPurgeNamespace()
		v.dnsName(p+".name", b.Name)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "set_cluster_id":
		id := cmd.GetSetClusterId().GetClusterId()
		if id == "" || len(id) > MaxClusterIDBytes {
			v.add(p+".cluster_id", "required, at most %d bytes", MaxClusterIDBytes)
		}
	case "register_shard":
		b := cmd.GetRegisterShard()
		if b.Spec == nil {
			v.add(p+".spec", "required")
		} else {
			v.errs = append(v.errs, ValidateShardSpec(b.Spec)...)
		}
	case "set_shard_state":
		b := cmd.GetSetShardState()
		v.dnsName(p+".id", b.Id)
		enum(v, p+".state", fsmpb.ShardState_name, int32(b.State), false)
		if o == FromClient && b.State != shardUp && b.State != shardDraining {
			v.add(p+".state", "a client may only drain (%s) or undrain (%s); liveness is the leader's", shardDraining, shardUp)
		}
		if o == FromClient && b.State == shardUp && b.From != shardDraining {
			v.add(p+".from", "a client's undrain applies only from %s: a suspect or down shard comes back up by its heartbeats", shardDraining)
		}
		if b.From != 0 {
			enum(v, p+".from", fsmpb.ShardState_name, int32(b.From), false)
		}
		reason(v, p+".reason", b.Reason)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "remove_shard":
		b := cmd.GetRemoveShard()
		v.dnsName(p+".id", b.Id)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "assign_namespace":
		b := cmd.GetAssignNamespace()
		v.dnsName(p+".name", b.Name)
		if b.ShardId != "" {
			v.dnsName(p+".shard_id", b.ShardId)
		}
		if b.StartCooling && o == FromClient {
			v.add(p+".start_cooling", "set only by the leader's placement")
		}
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "move_namespace":
		b := cmd.GetMoveNamespace()
		v.dnsName(p+".name", b.Name)
		if b.To != "" {
			v.dnsName(p+".to", b.To)
		}
		enum(v, p+".phase", fsmpb.MovePhase_name, int32(b.Phase), true)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "set_namespace_resources":
		b := cmd.GetSetNamespaceResources()
		v.dnsName(p+".name", b.Name)
		if b.CreateRevision <= 0 || b.CreateRevision > MaxRevision {
			v.add(p+".create_revision", "required: the incarnation the work was done for")
		}
		ifRevisionArg(v, p+".spec_revision", b.SpecRevision)
		ifRevisionArg(v, p+".ack_reconcile", b.AckReconcile)
		enum(v, p+".status", fsmpb.NamespaceStatus_name, int32(b.Status), true)
		reason(v, p+".reason", b.Reason)
		checkResources(v, p+".resources", b.Resources)
	case "reconcile_namespace":
		v.dnsName(p+".name", cmd.GetReconcileNamespace().GetName())
	case "bootstrap_acl":
		t := cmd.GetBootstrapAcl().GetToken()
		checkTokenRecord(v, p+".token", t)
		if t != nil && (t.Kind != acl.KindRole || t.Name != acl.RoleAdmin || t.ExpiresUnixNano != 0) {
			v.add(p+".token", "the bootstrap token is role admin and does not expire")
		}
		newTokenFields(v, p+".token", t)
	case "create_token":
		b := cmd.GetCreateToken()
		checkTokenRecord(v, p+".token", b.GetToken())
		newTokenFields(v, p+".token", b.GetToken())
		if b.TtlSeconds < 0 || b.TtlSeconds > maxTokenTTLSeconds {
			v.add(p+".ttl_seconds", "must be 0 (never expires) to %d (10 years), got %d", maxTokenTTLSeconds, b.TtlSeconds)
		}
	case "revoke_token":
		if !acl.ValidTokenID(cmd.GetRevokeToken().GetId()) {
			v.add(p+".id", "must be a token id (%d lower-case hex digits)", acl.TokenIDLen)
		}
	case "expire_shard_grace":
		b := cmd.GetExpireShardGrace()
		v.dnsName(p+".id", b.Id)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	case "end_cooling":
		b := cmd.GetEndCooling()
		v.dnsName(p+".name", b.Name)
		ifRevisionArg(v, p+".if_revision", b.IfRevision)
	}
}

// maxTokenTTLSeconds bounds a token's TTL (ten years).
const maxTokenTTLSeconds = 10 * 365 * 24 * 3600

// newTokenFields: the fields apply sets are not set by a proposer.
func newTokenFields(v *validator, path string, t *fsmpb.Token) {
	if t != nil && (t.CreatedUnixNano != 0 || t.ExpiresUnixNano != 0 || t.CreatedBy != "") {
		v.add(path, "created_unix_nano, expires_unix_nano and created_by are set at apply")
	}
}

// MaxResources bounds the resources of one namespace.
const MaxResources = 16

func checkResources(v *validator, path string, rs []*fsmpb.Resource) {
	if len(rs) > MaxResources {
		v.add(path, "at most %d resources (got %d)", MaxResources, len(rs))
		return
	}
	for i, r := range rs {
		p := fmt.Sprintf("%s[%d]", path, i)
		if r == nil {
			v.add(p, "must not be null")
			continue
		}
		if r.Backend == "" || r.Kind == "" || r.Name == "" || len(r.Name) > 512 || len(r.Backend) > 32 || len(r.Kind) > 32 || len(r.Target) > 256 || len(r.PlanHash) > 64 {
			v.add(p, "backend, kind and name are required and bounded")
		}
		enum(v, p+".state", fsmpb.ResourceState_name, int32(r.State), false)
		reason(v, p+".detail", r.Detail)
	}
}

// enum checks a value is one this binary knows; zero (unspecified) only
// where it means something (a move's done phase).
func enum(v *validator, path string, names map[int32]string, val int32, zeroOK bool) {
	if _, ok := names[val]; !ok || (val == 0 && !zeroOK) {
		v.add(path, "unknown value %d", val)
	}
}

// TruncateReason cuts a reason to MaxReasonBytes (on a rune boundary).
func TruncateReason(r string) string {
	if len(r) <= MaxReasonBytes {
		return r
	}
	cut := MaxReasonBytes - len("…")
	for cut > 0 && !utf8.RuneStart(r[cut]) {
		cut--
	}
	return r[:cut] + "…"
}

func reason(v *validator, path, r string) {
	if len(r) > MaxReasonBytes {
		v.add(path, "%d bytes, at most %d", len(r), MaxReasonBytes)
	}
}

func revisionArg(v *validator, path string, r *int64) {
	if r != nil && (*r < 0 || *r > MaxRevision) {
		v.add(path, "must be 0 (absent) or a revision, got %d", *r)
	}
}

func ifRevisionArg(v *validator, path string, r int64) {
	if r < 0 || r > MaxRevision {
		v.add(path, "must be 0 (unguarded) or a revision, got %d", r)
	}
}
