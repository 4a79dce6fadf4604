package fsm

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/prism/controlplane/fsm/fsmpb"
)

func TestValidateCommandRefuses(t *testing.T) {
	noop := func(floor int64) *fsmpb.Command {
		return &fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{RevisionFloor: floor}}}
	}
	withUnknown := put(spec("a"), nil)
	withUnknown.ProtoReflect().SetUnknown([]byte{0xf8, 0x3e, 0x01}) // field 999, varint 1
	cases := []struct {
		name   string
		cmd    *fsmpb.Command
		origin Origin
		path   string
	}{
		{"nil", nil, FromClient, "command"},
		{"empty body", &fsmpb.Command{}, FromClient, "command.body"},
		{"empty body from the leader", &fsmpb.Command{}, FromLeader, "command.body"},
		{"unknown fields", withUnknown, FromClient, "command"},
		{"request id too long", func() *fsmpb.Command { c := del("a"); c.RequestId = strings.Repeat("x", 65); return c }(), FromClient, "command.request_id"},
		{"revision floor", noop(math.MaxInt64), FromLeader, "command.noop.revision_floor"},
		{"noop from a client", noop(0), FromClient, "command.noop"},
		{"status from a client", setStatus("a", statusActive, 0), FromClient, "command.set_namespace_status"},
		{"purge from a client", &fsmpb.Command{Body: &fsmpb.Command_PurgeNamespace{PurgeNamespace: &fsmpb.PurgeNamespace{Name: "a"}}}, FromClient, "command.purge_namespace"},
		{"cluster id from a client", &fsmpb.Command{Body: &fsmpb.Command_SetClusterId{SetClusterId: &fsmpb.SetClusterID{ClusterId: "x"}}}, FromClient, "command.set_cluster_id"},
		{"move from a client", &fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: "a", To: "s"}}}, FromClient, "command.move_namespace"},
		{"shard down from a client", &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s", State: shardDown}}}, FromClient, "command.set_shard_state.state"},
		{"undrain from any state", &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s", State: shardUp}}}, FromClient, "command.set_shard_state.from"},
		{"unknown status", setStatus("a", fsmpb.NamespaceStatus(42), 0), FromLeader, "command.set_namespace_status.status"},
		{"unspecified status", setStatus("a", 0, 0), FromLeader, "command.set_namespace_status.status"},
		{"negative if_revision", setStatus("a", statusActive, -1), FromLeader, "command.set_namespace_status.if_revision"},
		{"no spec", put(nil, nil), FromClient, "command.apply_namespace.spec"},
		{"bad spec", put(&fsmpb.NamespaceSpec{Name: "A"}, nil), FromClient, "namespace"},
		{"negative expected revision", put(spec("a"), i64(-1)), FromClient, "command.apply_namespace.expected_revision"},
		{"no shard spec", &fsmpb.Command{Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{}}}, FromClient, "command.register_shard.spec"},
		{"delete without a name", del(""), FromClient, "command.delete_namespace.name"},
		{"reason too long", setStatus("a", statusActive, 0), FromLeader, "command.set_namespace_status.reason"},
	}
	cases[len(cases)-1].cmd.GetSetNamespaceStatus().Reason = strings.Repeat("r", MaxReasonBytes+1)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ValidateCommand(c.cmd, c.origin)
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("ValidateCommand = %v, want a ValidationError", err)
			}
			found := false
			for _, f := range ve.Fields {
				found = found || f.Path == c.path
			}
			if !found {
				t.Fatalf("no problem at %q in %v", c.path, err)
			}
		})
	}
}

func TestValidateCommandAccepts(t *testing.T) {
	cases := []struct {
		cmd    *fsmpb.Command
		origin Origin
	}{
		{put(spec("a"), i64(3)), FromClient},
		{del("a"), FromClient},
		{&fsmpb.Command{RequestId: strings.Repeat("x", 64), Body: &fsmpb.Command_AssignNamespace{AssignNamespace: &fsmpb.AssignNamespace{Name: "a"}}}, FromClient},
		{&fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s", State: shardDraining}}}, FromClient},
		{&fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s", State: shardUp, From: shardDraining}}}, FromClient},
		{&fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{}}}, FromLeader},
		{setStatus("a", statusActive, 4), FromLeader},
		{&fsmpb.Command{Body: &fsmpb.Command_MoveNamespace{MoveNamespace: &fsmpb.MoveNamespace{Name: "a", To: "s", Phase: 0}}}, FromLeader},
		{&fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: "s", State: shardDown}}}, FromLeader},
	}
	for _, c := range cases {
		if err := ValidateCommand(c.cmd, c.origin); err != nil {
			t.Errorf("%s from %s: %v", BodyName(c.cmd), c.origin, err)
		}
	}
}

// TestRevisionFloorCannotOverflow: a committed floor past MaxRevision
// (written by an older binary) is ignored, so the next change still
// increases the revision.
func TestRevisionFloorCannotOverflow(t *testing.T) {
	h := newHarness(t)
	h.apply(&fsmpb.Command{Body: &fsmpb.Command_Noop{Noop: &fsmpb.Noop{RevisionFloor: math.MaxInt64}}})
	r := h.apply(put(spec("a"), nil))
	if r.Err != nil || r.Revision != 1 {
		t.Fatalf("after a huge floor: revision %d, err %v; want 1", r.Revision, r.Err)
	}
}

func TestTruncateReason(t *testing.T) {
	long := strings.Repeat("é", MaxReasonBytes)
	got := TruncateReason(long)
	if len(got) > MaxReasonBytes || !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "é") {
		t.Fatalf("TruncateReason: %d bytes", len(got))
	}
	if TruncateReason("short") != "short" {
		t.Fatal("a short reason changed")
	}
}
