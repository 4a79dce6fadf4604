package placement

import (
	"strings"
	"testing"
)

func seedInput(bigShard bool) Input {
	in := Input{
		Shards: []Shard{
			shard("shard-a", 50000, 1000, "postgres", "kafka"),
			shard("shard-b", 50000, 1000, "postgres", "kafka"),
			shard("shard-c", 50000, 1000, "postgres", "kafka"),
			shard("shard-d", 50000, 1000, "postgres", "kafka"),
		},
		Namespaces: []Namespace{
			{Name: "user-profiles", Backend: "postgres", Demand: Load{4000, 1000, 20000}},
			{Name: "user-preferences", Backend: "postgres", Demand: Load{400, 100, 2000}},
			{Name: "user-settings", Backend: "postgres", Demand: Load{150, 50, 1000}},
			{Name: "video-events", Backend: "kafka", Demand: Load{20000, 200000, 500000}},
		},
	}
	if bigShard {
		in.Shards = append(in.Shards, shard("shard-big", 250000, 2000, "kafka"))
	}
	return in
}

func TestSeedSmallNamespacesShareOneShard(t *testing.T) {
	for _, big := range []bool{false, true} {
		in := seedInput(big)
		out, p := placeAll(t, DefaultConfig(), in)
		d := byName(p)
		host := d["user-profiles"].Shard
		if host == "" || host == "shard-big" {
			t.Fatalf("big=%v: user-profiles on %q: %+v", big, host, d["user-profiles"])
		}
		for _, n := range []string{"user-preferences", "user-settings"} {
			if d[n].Kind != KindAssign || d[n].Shard != host {
				t.Errorf("big=%v: %s = %+v, want assign to %s", big, n, d[n], host)
			}
		}
		if got := usageOf(out)[host].count; got != 3 {
			t.Errorf("big=%v: %s holds %d namespaces, want 3", big, host, got)
		}
	}
}

func TestSeedVideoEventsNeedsDedicatedShard(t *testing.T) {
	p := Place(DefaultConfig(), seedInput(false))
	v := byName(p)["video-events"]
	if v.Kind != KindUnschedulable || v.Shard != "" {
		t.Fatalf("video-events = %+v, want unschedulable", v)
	}
	want := "needs a dedicated shard with at least read_rps=20000 write_rps=200000 data_gb=500 for backend kafka; none of 4 shards qualifies (capacity: 4)"
	if v.Reason != want {
		t.Errorf("reason\n got %q\nwant %q", v.Reason, want)
	}
	if v.Rejected[RejectCapacity] != 4 || len(v.Rejected) != 1 {
		t.Errorf("rejected = %v", v.Rejected)
	}
	if c, why := Classify(DefaultConfig(), seedInput(false), seedInput(false).Namespaces[3]); c != ClassUnschedulable || !strings.Contains(why, "write_rps=200000") {
		t.Errorf("Classify = %s, %s", c, why)
	}

	in := seedInput(true)
	out, p := placeAll(t, DefaultConfig(), in)
	v = byName(p)["video-events"]
	if v.Kind != KindAssign || v.Shard != "shard-big" {
		t.Fatalf("video-events = %+v, want shard-big", v)
	}
	if u := usageOf(out)["shard-big"]; u.count != 1 {
		t.Errorf("shard-big hosts %v, want only video-events", u.names)
	}
	if c, _ := Classify(DefaultConfig(), in, in.Namespaces[3]); c != ClassDedicated {
		t.Errorf("class = %s", c)
	}
	// A later small kafka namespace is never co-located with it.
	out.Namespaces = append(out.Namespaces, Namespace{Name: "clicks", Backend: "kafka", Demand: Load{100, 100, 100}})
	p = Place(DefaultConfig(), out)
	if c := byName(p)["clicks"]; c.Shard == "shard-big" || c.Kind != KindAssign {
		t.Errorf("clicks = %+v", c)
	}
}
