package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// runBenchWatch: --watchers watches of every namespace change, a writer at
// --rate writes/s; latency is from the writer's acknowledgement to each
// watcher's receipt (0 when the event arrived first); an acknowledged write
// a watcher never saw is an event lost.
func runBenchWatch(g *globals, o *benchOpts) error {
	if o.watchers < 1 || o.rate < 1 || o.clients < 1 {
		return fmt.Errorf("bench watch: --watchers, --rate and --clients must be positive")
	}
	// The generator shares the machine with the server: run its GC less
	// often (GOGC=400, as prismd does) so it takes less CPU from it.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	eps := strings.Split(g.endpoints, ",")
	conns := make([]*client.Client, o.clients)
	for i := range conns {
		rot := append(append([]string{}, eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := g.clientOf(client.Config{Endpoints: rot})
		if err != nil {
			return err
		}
		defer cl.Close()
		conns[i] = cl
	}
	writer := conns[0]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var mu sync.Mutex
	acked := map[int64]time.Duration{} // revision -> ack time (since base)
	// Per watcher, owned by its goroutine (no lock on the delivery path):
	// the revisions it received and when. Times are offsets from base, so
	// receipts hold no pointers for the collector to scan (10,000 watchers
	// at 200 writes/s keep millions of them).
	base := time.Now()
	type receipt struct {
		rev int64
		at  time.Duration
	}
	seen := make([][]receipt, o.watchers)
	expect := int(float64(o.rate)*o.duration.Seconds()) + 16
	ready := make(chan struct{}, o.watchers)
	var wg sync.WaitGroup
	for w := 0; w < o.watchers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			first := true
			seen[w] = make([]receipt, 0, expect)
			_ = conns[w%len(conns)].Watch(ctx, &rpcpb.WatchRequest{Kinds: []string{"namespace"}, Names: []string{"bench-watch"}}, func(e *rpcpb.WatchEvent) error {
				now := time.Since(base)
				if e.Type == "bookmark" && first {
					first = false
					ready <- struct{}{}
					return nil
				}
				if e.Type == "put" {
					seen[w] = append(seen[w], receipt{e.Revision, now})
				}
				return nil
			})
		}(w)
	}
	for i := 0; i < o.watchers; i++ {
		select {
		case <-ready:
		case <-time.After(60 * time.Second):
			return fmt.Errorf("bench watch: only %d of %d watches started", i, o.watchers)
		}
	}
	// Open loop: a write starts every 1/rate seconds whether or not the
	// previous ones are done (at most 256 in flight), so a slow write does
	// not lower the offered rate.
	rng := rand.New(rand.NewPCG(7, 7))
	tick := time.NewTicker(time.Second / time.Duration(o.rate))
	deadline := time.Now().Add(o.duration)
	var errs atomic.Int64
	var writes sync.WaitGroup
	inflight := make(chan struct{}, 256)
	for time.Now().Before(deadline) {
		<-tick.C
		spec := benchSpec(0, o.valueSize, rng)
		spec.Name = "bench-watch"
		inflight <- struct{}{}
		writes.Add(1)
		go func() {
			defer func() { <-inflight; writes.Done() }()
			wctx, wcancel := context.WithTimeout(ctx, g.timeout)
			r, err := writer.Apply(wctx, &rpcpb.ApplyRequest{Spec: spec})
			wcancel()
			if err != nil {
				errs.Add(1)
				return
			}
			mu.Lock()
			acked[r.Revision] = time.Since(base)
			mu.Unlock()
		}()
	}
	writes.Wait()
	tick.Stop()
	time.Sleep(2 * time.Second) // let the last events arrive
	cancel()
	wg.Wait()
	lat := make([]time.Duration, 0, len(acked)*o.watchers)
	for w := range seen {
		var prev int64
		for _, r := range seen[w] {
			at, ok := acked[r.rev]
			if !ok || r.rev == prev {
				continue // not an acknowledged write of the run (or a repeat)
			}
			prev = r.rev
			lat = append(lat, max(0, r.at-at))
		}
	}
	lost := len(acked)*o.watchers - len(lat)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res := benchResult{Op: "watch", Clients: o.clients, Watchers: o.watchers, Ops: len(acked), Errors: int(errs.Load()), EventsLost: lost,
		OpsPerSec: float64(len(acked)) / o.duration.Seconds()}
	if len(lat) > 0 {
		res.P50Ms = ms(lat[len(lat)*50/100])
		res.P99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		res.MaxMs = ms(lat[len(lat)-1])
	}
	return g.emitLine(res, func(w io.Writer) {
		fmt.Fprintf(w, "watch: %d watchers, %d writes, %d events lost, delivery p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			res.Watchers, res.Ops, res.EventsLost, res.P50Ms, res.P99Ms, res.MaxMs)
	})
}
