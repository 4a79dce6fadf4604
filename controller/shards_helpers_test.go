package controller

import (
	"testing"
	"time"

	"github.com/prism/controlplane/fsm/fsmpb"
)

// registerShard registers a shard with room for a few namespaces, as an
// operator (or an agent) would, registered at the wall time at.
func (a *fakeApplier) registerShard(t *testing.T, id string, at time.Time, backends ...string) *fsmpb.Shard {
	t.Helper()
	if len(backends) == 0 {
		backends = []string{"postgres", "kafka"}
	}
	r := a.client(t, &fsmpb.Command{UnixNano: at.UnixNano(), Body: &fsmpb.Command_RegisterShard{RegisterShard: &fsmpb.RegisterShard{Spec: &fsmpb.ShardSpec{
		Id: id, Endpoints: []string{"10.0.0.1:8980"}, Backends: backends,
		Capacity: &fsmpb.ShardCapacity{ReadRps: 50000, WriteRps: 50000, DataGb: 1000},
	}}}})
	return r.Shard
}

func (a *fakeApplier) shard(t *testing.T, id string) *fsmpb.Shard {
	t.Helper()
	sh, _, err := a.f.GetShard(id)
	if err != nil {
		t.Fatal(err)
	}
	return sh
}

// setShardState moves a shard as the leader would (a liveness change or
// a drain).
func (a *fakeApplier) setShardState(t *testing.T, id string, st fsmpb.ShardState) {
	t.Helper()
	sh := a.shard(t, id)
	res, err := a.Apply(t.Context(), &fsmpb.Command{Body: &fsmpb.Command_SetShardState{SetShardState: &fsmpb.SetShardState{Id: id, State: st, Reason: "test", IfRevision: sh.Revision}}})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatal(err)
	}
}
