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
		cl, err := client.New(client.Config{Endpoints: rot})
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
	acked := map[int64]time.Time{} // revision -> ack time
	// Per watcher, owned by its goroutine (no lock on the delivery path):
	// the revisions it received and when.
	type receipt struct {
		rev int64
		at  time.Time
	}
	seen := make([][]receipt, o.watchers)
	ready := make(chan struct{}, o.watchers)
	var wg sync.WaitGroup
	for w := 0; w < o.watchers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			first := true
			_ = conns[w%len(conns)].Watch(ctx, &rpcpb.WatchRequest{Kinds: []string{"namespace"}, Names: []string{"bench-watch"}}, func(e *rpcpb.WatchEvent) error {
				now := time.Now()
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
			acked[r.Revision] = time.Now()
			mu.Unlock()
		}()
	}
	writes.Wait()
	tick.Stop()
	time.Sleep(2 * time.Second) // let the last events arrive
	cancel()
	wg.Wait()
	var lat []time.Duration
	lost := 0
	for w := range seen {
		got := make(map[int64]time.Time, len(seen[w]))
		for _, r := range seen[w] {
			got[r.rev] = r.at
		}
		for rev, at := range acked {
			got, ok := got[rev]
			if !ok {
				lost++
				continue
			}
			lat = append(lat, max(0, got.Sub(at)))
		}
	}
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
