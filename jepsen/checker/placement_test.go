package checker

import (
	"strings"
	"testing"
)

func goodSnap() Snapshot {
	return Snapshot{
		Rev: 10,
		Shards: []ShardSnap{
			{ID: "s1", State: "up", Namespaces: []string{"plc-a", "plc-b"}, Util: [3]float64{0.5, 0.1, 0.1}},
			{ID: "s2", State: "up", Namespaces: []string{"plc-d"}, Util: [3]float64{0.9, 0.1, 0.1}}, // dedicated: no watermark
			{ID: "s3", State: "up"},
		},
		Namespaces: []NsSnap{
			{Name: "plc-a", Status: "active", ShardID: "s1", Revision: 5},
			{Name: "plc-b", Status: "active", ShardID: "s1", Revision: 6},
			{Name: "plc-d", Status: "active", ShardID: "s2", Revision: 7, Dedicated: true},
			{Name: "plc-u", Status: "provisioning", Reason: "unschedulable: no shard"},
			{Name: "reg-0", Status: "active"},
		},
		ByShard: map[string]map[string]int64{"s1": {"plc-a": 5, "plc-b": 6}, "s2": {"plc-d": 7}, "s3": {}},
		Agents: []AgentSnap{
			{ID: "s1", Running: true, ViewShard: "s1", View: map[string]int64{"plc-a": 5, "plc-b": 6}},
			{ID: "s2", Running: true, ViewShard: "s2", View: map[string]int64{"plc-d": 7}},
			{ID: "s3", Running: true, ViewShard: "s3", View: map[string]int64{}},
		},
	}
}

func wantFail(t *testing.T, r Result, substr string) {
	t.Helper()
	if r.OK {
		t.Fatalf("%s passed, want a violation containing %q", r.Name, substr)
	}
	if !strings.Contains(strings.Join(r.Problems, "\n"), substr) {
		t.Fatalf("%s problems %v do not mention %q", r.Name, r.Problems, substr)
	}
}

func TestPlacementGood(t *testing.T) {
	s := goodSnap()
	for _, r := range []Result{Placement(s, "plc-"), AgentConvergence(s), ShardLiveness(s, "shard-liveness")} {
		if !r.OK {
			t.Fatalf("%s: %v", r.Name, r.Problems)
		}
	}
}

func TestPlacementViolations(t *testing.T) {
	s := goodSnap()
	s.Shards[0].State = "suspect"
	wantFail(t, Placement(s, "plc-"), "plc-a is active on shard s1, which is suspect")
	wantFail(t, ShardLiveness(s, "x"), "agent s1 runs but its shard is suspect")

	s = goodSnap()
	s.Shards[2].Namespaces = []string{"plc-a"} // listed on two shards without a move
	wantFail(t, Placement(s, "plc-"), "plc-a")

	s = goodSnap()
	s.Namespaces[0].MoveFrom, s.Namespaces[0].MoveTo, s.Namespaces[0].MovePhase = "s1", "s3", "shadow"
	s.Shards[2].Namespaces = []string{"plc-a"}
	wantFail(t, Placement(s, "plc-"), "still moving s1→s3")

	s = goodSnap()
	s.Shards[1].Namespaces = []string{"plc-d", "plc-b"}
	s.Namespaces[1].ShardID = "s2"
	s.Shards[0].Namespaces = []string{"plc-a"}
	wantFail(t, Placement(s, "plc-"), "dedicated plc-d shares shard s2")

	s = goodSnap()
	s.Shards[0].Util[2] = 0.86
	wantFail(t, Placement(s, "plc-"), "above the high watermark")

	s = goodSnap()
	s.Namespaces = append(s.Namespaces, NsSnap{Name: "plc-x", Status: "provisioning", Reason: "waiting for provisioning"})
	wantFail(t, Placement(s, "plc-"), "plc-x is still provisioning")

	s = goodSnap()
	s.Namespaces[4].ShardID = "s3"
	s.Shards[2].Namespaces = []string{"reg-0"}
	wantFail(t, Placement(s, "plc-"), "reg-0 is on shard s3, but no shard serves its backend")

	s = goodSnap()
	s.Namespaces[0].Status = "degraded"
	wantFail(t, Placement(s, "plc-"), "plc-a is degraded on shard s1, which is up")
}

func TestAgentConvergenceViolations(t *testing.T) {
	s := goodSnap()
	s.Agents[0].View = map[string]int64{"plc-a": 4, "plc-z": 9}
	r := AgentConvergence(s)
	wantFail(t, r, "plc-a@4, want @5")
	wantFail(t, r, "missing plc-b@6")
	wantFail(t, r, "extra plc-z@9")

	s = goodSnap()
	s.Agents[1].Err = "connection refused"
	wantFail(t, AgentConvergence(s), "agent s2: connection refused")

	s = goodSnap() // a stopped agent is not compared
	s.Agents[2] = AgentSnap{ID: "s3", KilledForGood: true}
	s.Shards[2].State = "down"
	if r := AgentConvergence(s); !r.OK {
		t.Fatal(r.Problems)
	}
	if r := ShardLiveness(s, "x"); !r.OK {
		t.Fatal(r.Problems)
	}
	s.Shards[2].State = "up"
	wantFail(t, ShardLiveness(s, "x"), "killed and not restarted, but its shard is up")
}
