package placement

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

// checkWithinTarget asserts every shared shard in use is within TargetUtil in every dimension.
func checkWithinTarget(t *testing.T, cfg Config, in Input) {
	t.Helper()
	for id, u := range usageOf(in) {
		if u.count > 1 && !fitsPermille(u.load, capOf(in, id), cfg.TargetUtil) {
			t.Errorf("shard %s at %d ppm holds %d namespaces, above target", id, worstPPM(u.load, capOf(in, id)), u.count)
		}
	}
}

func TestGeneratedSteadyStateWithinTargetAndBalanced(t *testing.T) {
	cfg := DefaultConfig()
	for _, tc := range []struct {
		shards, nss int
		fill        int64
	}{
		{20, 1000, 600}, {50, 3000, 700}, {100, 6000, 450}, {100, 5000, 300}, {200, 12000, 650}, {40, 2400, 100},
	} {
		for seed := int64(1); seed <= 3; seed++ {
			name := fmt.Sprintf("%dx%d-fill%d-seed%d", tc.shards, tc.nss, tc.fill, seed)
			t.Run(name, func(t *testing.T) {
				in := genInput(seed, tc.shards, tc.nss, tc.fill)
				out, p := placeAll(t, cfg, in)
				if p.Unschedulable != 0 || p.Assigns != tc.nss {
					t.Fatalf("assigns %d unschedulable %d", p.Assigns, p.Unschedulable)
				}
				checkWithinTarget(t, cfg, out)
				imb, mx, used := imbalance(out)
				t.Logf("imbalance %.4f max %.3f shards used %d/%d", imb, mx, used, tc.shards)
				if float64(tc.nss)/float64(used) >= 50 && imb > 1.10 {
					t.Errorf("imbalance %.4f > 1.10 (max %.3f, %d shards in use)", imb, mx, used)
				}
			})
		}
	}
}

func TestRerunPlaceMakesNoChanges(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(7, 60, 3600, 650)
	out, _ := placeAll(t, cfg, in)
	for _, moved := range []bool{false, true} {
		for i := range out.Namespaces {
			out.Namespaces[i].MovedRecently = moved
		}
		if p := Place(cfg, out); len(p.Decisions) != 0 {
			t.Fatalf("re-run produced %d decisions, first %+v", len(p.Decisions), p.Decisions[0])
		}
	}
}

func TestLosingShardsMovesOnlyTheirNamespaces(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(3, 100, 6000, 550)
	out, _ := placeAll(t, cfg, in)
	for _, k := range []int{1, 3, 5, 10} {
		u := usageOf(out)
		lost := map[string]bool{}
		held := map[string]bool{}
		var rest []Shard
		for i, sh := range out.Shards {
			if i%(len(out.Shards)/k) == 0 && len(lost) < k {
				lost[sh.ID] = true
				for _, n := range u[sh.ID].names {
					held[n] = true
				}
				continue
			}
			rest = append(rest, sh)
		}
		after := Input{Shards: rest, Namespaces: out.Namespaces}
		p := Place(cfg, after)
		if p.Unschedulable != 0 || p.Assigns != 0 {
			t.Fatalf("k=%d: %d unschedulable %d assigns", k, p.Unschedulable, p.Assigns)
		}
		extra := 0
		for _, d := range p.Decisions {
			if !held[d.Namespace] {
				extra++
			} else if d.Kind != KindMove || !lost[d.From] || lost[d.Shard] {
				t.Errorf("k=%d: %+v", k, d)
			}
		}
		if p.Moves-extra != len(held) || extra > len(out.Namespaces)/100 {
			t.Errorf("k=%d: moves %d, held %d, extra %d", k, p.Moves, len(held), extra)
		}
		checkWithinTarget(t, cfg, Apply(after, p))

		// The incremental path gives the same moves.
		st, err := NewState(cfg, out)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, 0, k)
		for id := range lost {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		p2, err := st.RemoveShards(ids...)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(moveTargets(p), moveTargets(p2)) {
			t.Errorf("k=%d: RemoveShards differs from Place", k)
		}
	}
}

func moveTargets(p Plan) map[string]string {
	m := map[string]string{}
	for _, d := range p.Decisions {
		m[d.Namespace] = d.Kind + ":" + d.From + "->" + d.Shard
	}
	return m
}

func TestShardStates(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(11, 10, 300, 400)
	out, _ := placeAll(t, cfg, in)
	victim := out.Namespaces[0].CurrentShard
	held := usageOf(out)[victim].names
	set := func(st ShardState, past bool) Input {
		c := Input{Shards: slices.Clone(out.Shards), Namespaces: out.Namespaces}
		for i := range c.Shards {
			if c.Shards[i].ID == victim {
				c.Shards[i].State, c.Shards[i].DownPastGrace = st, past
			}
		}
		return c
	}
	// Down within grace: degraded, not moved.
	p := Place(cfg, set(Down, false))
	if p.Moves != 0 || p.Degraded != len(held) {
		t.Errorf("down within grace: moves %d degraded %d, want 0/%d", p.Moves, p.Degraded, len(held))
	}
	// Suspect: nothing happens.
	if p := Place(cfg, set(Suspect, false)); len(p.Decisions) != 0 {
		t.Errorf("suspect: %+v", p.Decisions[0])
	}
	// Down past grace and draining: all moved, even the moved-recently ones.
	for _, st := range []ShardState{Down, Draining} {
		c := set(st, true)
		c.Namespaces = slices.Clone(c.Namespaces)
		for i := range c.Namespaces {
			c.Namespaces[i].MovedRecently = true
		}
		p := Place(cfg, c)
		if p.Moves != len(held) || len(p.Decisions) != len(held) {
			t.Errorf("%v: moves %d decisions %d, want %d", st, p.Moves, len(p.Decisions), len(held))
		}
		for _, d := range p.Decisions {
			if d.From != victim || d.Shard == victim {
				t.Errorf("%v: %+v", st, d)
			}
		}
	}
	// New namespaces never go to a non-Up shard.
	c := set(Draining, false)
	for i := 0; i < 50; i++ {
		c.Namespaces = append(c.Namespaces, Namespace{Name: fmt.Sprintf("new-%d", i), Backend: "kafka", Demand: Load{10, 10, 10}})
	}
	for _, d := range Place(cfg, c).Decisions {
		if d.Shard == victim && d.Kind == KindAssign {
			t.Errorf("assigned to draining shard: %+v", d)
		}
	}
}

func TestDedicatedShardsAreExclusive(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(5, 30, 1200, 250)
	for i := 0; i < 8; i++ {
		in.Namespaces = append(in.Namespaces, Namespace{Name: fmt.Sprintf("big-%d", i), Backend: "kafka", Demand: Load{30000, 1000, 1000}})
		in.Namespaces = append(in.Namespaces, Namespace{Name: fmt.Sprintf("iso-%d", i), Backend: "postgres", Isolation: IsolationDedicated, Demand: Load{10, 10, 10}})
	}
	out, p := placeAll(t, cfg, in)
	if p.Unschedulable != 0 {
		t.Fatalf("unschedulable: %d", p.Unschedulable)
	}
	d := byName(p)
	u := usageOf(out)
	for i := 0; i < 8; i++ {
		for _, n := range []string{fmt.Sprintf("big-%d", i), fmt.Sprintf("iso-%d", i)} {
			if got := u[d[n].Shard]; got.count != 1 {
				t.Errorf("%s shares %s with %v", n, d[n].Shard, got.names)
			}
		}
	}
	// More dedicated namespaces than empty shards: the rest are unschedulable, never co-located.
	for i := 0; i < 40; i++ {
		out.Namespaces = append(out.Namespaces, Namespace{Name: fmt.Sprintf("zbig-%d", i), Backend: "kafka", Demand: Load{30000, 10, 10}})
	}
	p = Place(cfg, out)
	out2 := Apply(out, p)
	u = usageOf(out2)
	for _, dd := range p.Decisions {
		if dd.Kind == KindAssign && u[dd.Shard].count != 1 {
			t.Errorf("%s co-located: %v", dd.Namespace, u[dd.Shard].names)
		}
		if dd.Kind == KindUnschedulable && dd.Rejected[RejectOccupied]+dd.Rejected[RejectDedicated] == 0 {
			t.Errorf("%+v", dd)
		}
	}
	if p.Unschedulable == 0 {
		t.Errorf("expected some unschedulable dedicated namespaces")
	}
}

func TestPinnedNeverMoved(t *testing.T) {
	cfg := DefaultConfig()
	in := Input{Shards: []Shard{shard("a", 1000, 10, "pg"), shard("b", 1000, 10, "pg"), shard("c", 1000, 10, "pg")}}
	// a is over the high watermark only through pinned namespaces.
	in.Namespaces = []Namespace{
		{Name: "p1", Backend: "pg", Demand: Load{500, 0, 0}, CurrentShard: "a", Pinned: true},
		{Name: "p2", Backend: "pg", Demand: Load{400, 0, 0}, CurrentShard: "a", Pinned: true, PinnedShard: "a"},
		{Name: "p3", Backend: "pg", Demand: Load{10, 0, 0}, CurrentShard: "gone", Pinned: true},
		{Name: "p4", Backend: "pg", Demand: Load{10, 0, 0}, PinnedShard: "c", Pinned: true},
	}
	p := Place(cfg, in)
	d := byName(p)
	if p.Moves != 0 || d["p3"].Kind != KindDegraded || d["p4"].Kind != KindAssign || d["p4"].Shard != "c" || len(p.Decisions) != 2 {
		t.Fatalf("%+v", p.Decisions)
	}
	if r := Rebalance(cfg, Apply(in, p), 10); r.Moves != 0 {
		t.Fatalf("rebalance moved pinned: %+v", r.Decisions)
	}
}

func TestHighWatermarkReliefMovesFewest(t *testing.T) {
	cfg := DefaultConfig()
	in := Input{Shards: []Shard{shard("a", 10000, 100, "pg"), shard("b", 10000, 100, "pg"), shard("c", 10000, 100, "pg")}}
	add := func(name string, rps int64, on string) {
		in.Namespaces = append(in.Namespaces, Namespace{Name: name, Backend: "pg", Demand: Load{rps, rps / 10, rps}, CurrentShard: on})
	}
	// a at 90 %: 100 x 0.5 % + 1 x 20 % + 1 x 17 % + 1 x 3 %. Excess over 75 % is 15 %:
	// the fewest moves is one, and the smallest single namespace that clears it is the 17 % one.
	for i := 0; i < 100; i++ {
		add(fmt.Sprintf("small-%03d", i), 50, "a")
	}
	add("x20", 2000, "a")
	add("x17", 1700, "a")
	add("x03", 300, "a")
	add("other", 1000, "b")
	p := Place(cfg, in)
	if p.Moves != 1 || p.Decisions[0].Namespace != "x17" || p.Decisions[0].From != "a" {
		t.Fatalf("%+v", p.Decisions)
	}
	checkWithinTarget(t, cfg, Apply(in, p))
	// Cooling: if x17 and x20 moved recently, the greedy needs the 3 % one plus small ones.
	for i := range in.Namespaces {
		if n := in.Namespaces[i].Name; n == "x17" || n == "x20" {
			in.Namespaces[i].MovedRecently = true
		}
	}
	p = Place(cfg, in)
	if p.Moves != 25 { // 3 % + 24 x 0.5 % = 15 %
		t.Errorf("moves = %d", p.Moves)
	}
	for _, d := range p.Decisions {
		if d.Namespace == "x17" || d.Namespace == "x20" {
			t.Errorf("moved a cooling namespace: %+v", d)
		}
	}
	checkWithinTarget(t, cfg, Apply(in, p))
	// Between target and high watermark: nothing moves.
	in.Namespaces = in.Namespaces[:len(in.Namespaces)-4]
	add("x08", 800, "a") // 50 % + 8 % + 3 % ... below 85 %
	if p := Place(cfg, in); p.Moves != 0 {
		t.Errorf("moved within band: %+v", p.Decisions)
	}
}

func TestRebalanceBudgetCoolingAndTarget(t *testing.T) {
	cfg := DefaultConfig()
	in := Input{Shards: []Shard{shard("a", 10000, 100, "pg"), shard("b", 10000, 100, "pg"), shard("c", 10000, 100, "pg")}}
	for i := 0; i < 60; i++ {
		on := "a"
		if i >= 40 {
			on = []string{"b", "c"}[i%2]
		}
		in.Namespaces = append(in.Namespaces, Namespace{Name: fmt.Sprintf("n%02d", i), Backend: "pg", Demand: Load{180, 10, 100}, CurrentShard: on, MovedRecently: i%4 == 0})
	}
	if p := Place(cfg, in); len(p.Decisions) != 0 {
		t.Fatalf("steady state changed: %+v", p.Decisions)
	}
	for _, budget := range []int{1, 3, 100} {
		p := Rebalance(cfg, in, budget)
		if p.Moves > budget || p.Moves == 0 {
			t.Errorf("budget %d: %d moves", budget, p.Moves)
		}
		for _, d := range p.Decisions {
			var n int
			fmt.Sscanf(d.Namespace, "n%d", &n)
			if n%4 == 0 {
				t.Errorf("moved cooling %s", d.Namespace)
			}
		}
		out := Apply(in, p)
		checkWithinTarget(t, cfg, out)
		imb, _, _ := imbalance(out)
		t.Logf("budget %d: moves %d imbalance %.3f", budget, p.Moves, imb)
		if budget == 100 && imb > 1.1 {
			t.Errorf("imbalance after rebalance %.3f", imb)
		}
	}
	// Default budget: 0.5 % of 60 namespaces, at least 1.
	if p := Rebalance(cfg, in, 0); p.Moves != 1 {
		t.Errorf("default budget moves = %d", p.Moves)
	}
	// A gain below the threshold is not worth a move.
	cfg.RebalanceMinGain = 400
	if p := Rebalance(cfg, in, 100); p.Moves != 0 {
		t.Errorf("min gain ignored: %d moves", p.Moves)
	}
}

func TestInFlightMoveCountsOnBothShards(t *testing.T) {
	cfg := DefaultConfig()
	in := Input{Shards: []Shard{shard("a", 1000, 10, "pg"), shard("b", 1000, 10, "pg")}}
	in.Namespaces = []Namespace{
		{Name: "m", Backend: "pg", Demand: Load{400, 0, 0}, CurrentShard: "a", Moving: &Move{From: "a", To: "b"}},
		{Name: "new", Backend: "pg", Demand: Load{400, 0, 0}},
	}
	p := Place(cfg, in)
	if d := byName(p)["new"]; d.Kind != KindUnschedulable || d.Rejected[RejectCapacity] != 2 {
		t.Fatalf("%+v", p.Decisions)
	}
	in.Shards = in.Shards[:1]
	p = Place(cfg, in)
	if d := byName(p)["m"]; d.Kind != KindDegraded {
		t.Fatalf("%+v", p.Decisions)
	}
}

func TestExplainListsEveryShard(t *testing.T) {
	in := seedInput(true)
	in.Shards = append(in.Shards, Shard{ID: "labelled", Capacity: Load{50000, 50000, 1e6}, Backends: []string{"postgres"}, Labels: map[string]string{"tier": "gold"}, State: Down})
	out, _ := placeAll(t, DefaultConfig(), in)
	ex, err := Explain(DefaultConfig(), out, "user-settings")
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.Candidates) != len(in.Shards) {
		t.Fatalf("%d candidates for %d shards", len(ex.Candidates), len(in.Shards))
	}
	if ex.Class != ClassShared || ex.Choice != ex.Current || ex.Candidates[0].Shard != ex.Choice || !ex.Candidates[0].Accepted {
		t.Errorf("%+v", ex)
	}
	if ex.Rejected[RejectBackend] != 1 || ex.Rejected[RejectState] != 1 {
		t.Errorf("rejected %v", ex.Rejected)
	}
	ex, err = Explain(DefaultConfig(), out, "video-events")
	if err != nil || ex.Class != ClassDedicated || ex.Choice != "shard-big" {
		t.Errorf("%+v %v", ex, err)
	}
	if _, err := Explain(DefaultConfig(), out, "nope"); !errorsIs(err, ErrUnknownNamespace) {
		t.Errorf("err = %v", err)
	}
}

func TestDeterministicUnderShuffle(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(21, 40, 2000, 600)
	for i := 0; i < 6; i++ {
		in.Namespaces = append(in.Namespaces, Namespace{Name: fmt.Sprintf("big-%d", i), Backend: "kafka", Demand: Load{40000, 100, 100},
			Labels: map[string]string{"zone": "a", "disk": "ssd"}})
	}
	for i := range in.Shards {
		in.Shards[i].Labels = map[string]string{"zone": []string{"a", "b"}[i%2], "disk": "ssd"}
	}
	base := Place(cfg, in)
	// A partially placed instance with losses, for the repair and rebalance paths.
	placed := Apply(in, base)
	placed.Shards = placed.Shards[3:]
	placed.Namespaces = append(placed.Namespaces, Namespace{Name: "late", Backend: "postgres", Demand: Load{5, 5, 5}})
	repair := Place(cfg, placed)
	rebal := Rebalance(cfg, placed, 20)
	r := rand.New(rand.NewSource(1))
	for k := 0; k < 5; k++ {
		if got := Place(cfg, shuffled(r, in)); !reflect.DeepEqual(got, base) {
			t.Fatal("Place differs under shuffle")
		}
		if got := Place(cfg, shuffled(r, placed)); !reflect.DeepEqual(got, repair) {
			t.Fatal("repair differs under shuffle")
		}
		if got := Rebalance(cfg, shuffled(r, placed), 20); !reflect.DeepEqual(got, rebal) {
			t.Fatal("Rebalance differs under shuffle")
		}
	}
	if repair.Moves == 0 || rebal.Moves <= repair.Moves {
		t.Errorf("weak test: repair %d rebalance %d moves", repair.Moves, rebal.Moves)
	}
}

func TestPlaceOneIncremental(t *testing.T) {
	cfg := DefaultConfig()
	in := genInput(9, 50, 3000, 500)
	out, _ := placeAll(t, cfg, in)
	st, err := NewState(cfg, out)
	if err != nil {
		t.Fatal(err)
	}
	extra := Namespace{Name: "brand-new", Backend: "postgres", Demand: Load{300, 100, 1000}}
	d, err := st.PlaceOne(extra)
	if err != nil || d.Kind != KindAssign {
		t.Fatalf("%+v %v", d, err)
	}
	withNew := out
	withNew.Namespaces = append(slices.Clone(out.Namespaces), extra)
	if want := byName(Place(cfg, withNew))["brand-new"]; want.Shard != d.Shard {
		t.Errorf("PlaceOne chose %s, Place chose %s", d.Shard, want.Shard)
	}
	if _, err := st.PlaceOne(extra); !errorsIs(err, ErrDuplicateNamespace) {
		t.Errorf("err = %v", err)
	}
	if p := st.Step(); len(p.Decisions) != 0 {
		t.Errorf("Step after PlaceOne: %+v", p.Decisions)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Config{TargetUtil: 900, HighWatermark: 800, DedicatedFraction: 0, PackFloor: -1, RebalanceMaxMoves: -1, RebalanceMinGain: 2000}
	err := bad.Validate()
	if !errorsIs(err, ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"HighWatermark 800 below TargetUtil 900", "DedicatedFraction", "PackFloor", "RebalanceMaxMoves", "RebalanceMinGain"} {
		if !contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	if _, err := NewState(bad, Input{}); err == nil {
		t.Error("NewState accepted a bad config")
	}
}

func TestValidateInputAndDuplicates(t *testing.T) {
	in := seedInput(false)
	if err := ValidateInput(in); err != nil {
		t.Fatal(err)
	}
	in.Shards = append(in.Shards, in.Shards[0])
	in.Namespaces = append(in.Namespaces, in.Namespaces[0], Namespace{Name: "x", Isolation: "exclusive", Demand: Load{-1, 0, 0}})
	err := ValidateInput(in)
	for _, want := range []string{`duplicate shard id "shard-a"`, `duplicate namespace name "user-profiles"`, `unknown isolation "exclusive"`, "read_rps -1"} {
		if !contains(fmt.Sprint(err), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	// The engine still produces a deterministic plan, flagging the duplicate name.
	p := Place(DefaultConfig(), in)
	n := 0
	for _, d := range p.Decisions {
		if d.Namespace == "user-profiles" {
			n++
		}
	}
	if n != 2 || !reflect.DeepEqual(p, Place(DefaultConfig(), shuffled(rand.New(rand.NewSource(3)), in))) {
		t.Errorf("duplicates: %d decisions for user-profiles", n)
	}
}
