package cluster_test

import (
	"testing"
	"time"

	"github.com/prism/controlplane/cluster"
	"github.com/prism/controlplane/internal/testcluster"
)

func TestSkewClock(t *testing.T) {
	c := cluster.NewSkewClock()
	if d := time.Until(c.Now()); d < -time.Second || d > time.Second {
		t.Fatalf("a new clock is off by %v", d)
	}
	c.Set(time.Hour, 1)
	if d := time.Until(c.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("offset 1h: off by %v", d)
	}
	c.Set(0, 10) // drift: ten times real speed
	start, realStart := c.Now(), time.Now()
	time.Sleep(50 * time.Millisecond)
	ratio := float64(c.Now().Sub(start)) / float64(time.Since(realStart))
	if ratio < 5 || ratio > 15 {
		t.Fatalf("rate 10 ran at %.1fx", ratio)
	}
}

// The leader stamps commands with its Clock, not the machine's.
func TestLeaderStampsWithItsClock(t *testing.T) {
	c := testcluster.StartWith(t, 3, func(cc *cluster.Config) {
		sc := cluster.NewSkewClock()
		sc.Set(24*time.Hour, 1)
		cc.Clock = sc
	})
	cl := c.Client()
	defer cl.Close()
	r := mustApply(t, cl, spec("stamped", 1))
	if d := time.Until(time.Unix(0, r.Namespace.CreatedUnixNano)); d < 23*time.Hour {
		t.Fatalf("created %v from now; the leader's clock is a day ahead", d)
	}
}
