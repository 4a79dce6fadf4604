package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/prism/controlplane/fsm"
	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// benchResult is the one JSON line `bench` prints.
type benchResult struct {
	Op        string  `json:"op" yaml:"op"`
	Clients   int     `json:"clients" yaml:"clients"`
	Ops       int     `json:"ops" yaml:"ops"`
	Errors    int     `json:"errors" yaml:"errors"`
	OpsPerSec float64 `json:"ops_per_sec" yaml:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms" yaml:"p50_ms"`
	P99Ms     float64 `json:"p99_ms" yaml:"p99_ms"`
	MaxMs     float64 `json:"max_ms" yaml:"max_ms"`
	FirstErr  string  `json:"first_error,omitempty" yaml:"first_error,omitempty"`
	// watch only
	Watchers   int `json:"watchers,omitempty" yaml:"watchers,omitempty"`
	EventsLost int `json:"events_lost" yaml:"events_lost"`
}

type benchOpts struct {
	watchers   int
	rate       int
	clients    int
	duration   time.Duration
	valueSize  int
	keys       int
	sequential bool
	cpuProfile string
}

// profiled runs f with the generator's CPU profile written to
// o.cpuProfile, when set (to see where a bench's own time goes).
func profiled(o *benchOpts, f func() error) error {
	if o.cpuProfile == "" {
		return f()
	}
	out, err := os.Create(o.cpuProfile)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := pprof.StartCPUProfile(out); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()
	return f()
}

func benchCmd(g *globals) *cobra.Command {
	o := &benchOpts{}
	c := &cobra.Command{Use: "bench", Short: "Load generators that print one summary line"}
	pf := c.PersistentFlags()
	pf.IntVar(&o.clients, "clients", 16, "concurrent clients, spread over the endpoints")
	pf.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	pf.IntVar(&o.valueSize, "value-size", 512, "approximate encoded size of each namespace spec, bytes")
	pf.IntVar(&o.keys, "keys", 1000, "how many namespace names the load is spread over")
	pf.IntVar(&o.watchers, "watchers", 1000, "watch: concurrent watches (spread over --clients connections)")
	pf.IntVar(&o.rate, "rate", 200, "watch: writes per second")
	pf.StringVar(&o.cpuProfile, "cpu-profile", "", "write the generator's CPU profile (pprof) to this file")
	pf.BoolVar(&o.sequential, "sequential", false, "visit every name exactly once, in order, then stop (to load data)")
	c.AddCommand(&cobra.Command{
		Use:   "put",
		Short: "Update namespaces (about --value-size bytes each) as fast as --clients allow",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return profiled(o, func() error { return runBench(g, o, "put") })
		},
	}, &cobra.Command{
		Use:   "watch",
		Short: "Open --watchers watches, write --rate changes/s, report commit-to-delivery latency",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return profiled(o, func() error { return runBenchWatch(g, o) }) },
	}, &cobra.Command{
		Use:   "get",
		Short: "Read namespaces with --consistency (creates the names first if missing)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return profiled(o, func() error { return runBench(g, o, "get") })
		},
	}, benchProvisionCmd(g, o))
	return c
}

// benchSpec builds a namespace spec whose encoding is about size bytes;
// the padding is random, so every put is a real change. Its backend is one
// Prism does not provision ("bench"): the put benchmark measures the
// metadata path, and never creates tables on a cluster with backends.
func benchSpec(i, size int, rng *rand.Rand) *fsmpb.NamespaceSpec {
	s := &fsmpb.NamespaceSpec{
		Name: fmt.Sprintf("bench-%05d", i), Abstraction: "keyvalue", Backend: "bench",
		Capacity: &fsmpb.Capacity{EstimatedReadRps: 100, EstimatedWriteRps: 10, EstimatedDataSizeGb: 1},
	}
	pad := size - proto.Size(s) - 40
	if pad < 1 {
		pad = 1
	}
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, pad)
	for k := range b {
		b[k] = letters[rng.IntN(len(letters))]
	}
	s.BackendConfigJson, _ = fsm.ConfigJSON(map[string]any{"bench": map[string]any{"padding": string(b)}})
	return s
}

func runBench(g *globals, o *benchOpts, op string) error {
	if o.clients < 1 || o.keys < 1 || o.duration <= 0 {
		return fmt.Errorf("bench: --clients, --keys and --duration must be positive")
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // the load generator should not be the bottleneck
	}
	eps := strings.Split(g.endpoints, ",")
	clients := make([]*client.Client, o.clients)
	for i := range clients {
		// Rotate the endpoint list so reads spread over every node.
		rot := append(append([]string{}, eps[i%len(eps):]...), eps[:i%len(eps)]...)
		cl, err := g.clientOf(client.Config{Endpoints: rot, AttemptTimeout: 2 * time.Second})
		if err != nil {
			return err
		}
		defer cl.Close()
		clients[i] = cl
	}
	if op == "get" {
		if err := preload(clients[0], o); err != nil {
			return err
		}
	}
	var (
		mu       sync.Mutex
		lat      []time.Duration
		errs     int
		firstErr string
	)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < o.clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			cl := clients[w]
			var mine []time.Duration
			var myErrs int
			var myFirst string
			next := w
			for time.Now().Before(deadline) {
				k := rng.IntN(o.keys)
				if o.sequential {
					if next >= o.keys {
						break
					}
					k, next = next, next+o.clients
				}
				ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
				t0 := time.Now()
				var err error
				if op == "put" {
					_, err = cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: benchSpec(k, o.valueSize, rng)})
				} else {
					_, err = cl.Get(ctx, &rpcpb.GetRequest{Name: fmt.Sprintf("bench-%05d", k), Consistency: g.readConsistency()})
				}
				d := time.Since(t0)
				cancel()
				if err != nil {
					myErrs++
					if myFirst == "" {
						myFirst = explain(err).msg
					}
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			lat = append(lat, mine...)
			errs += myErrs
			if firstErr == "" {
				firstErr = myFirst
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := benchResult{Op: op, Clients: o.clients, Ops: len(lat), Errors: errs, FirstErr: firstErr,
		OpsPerSec: float64(len(lat)) / elapsed.Seconds()}
	if len(lat) > 0 {
		r.P50Ms = ms(lat[len(lat)*50/100])
		r.P99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
		r.MaxMs = ms(lat[len(lat)-1])
	}
	if err := g.emitLine(r, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d clients, %d ops, %d errors, %.0f ops/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
			r.Op, r.Clients, r.Ops, r.Errors, r.OpsPerSec, r.P50Ms, r.P99Ms, r.MaxMs)
	}); err != nil {
		return err
	}
	if r.Ops == 0 {
		return fmt.Errorf("bench %s: no operation succeeded (%d errors; first: %s)", op, r.Errors, r.FirstErr)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// preload creates every bench name that does not exist yet.
func preload(cl *client.Client, o *benchOpts) error {
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	zero := int64(0)
	for k := 0; k < o.keys; k++ {
		_, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: benchSpec(k, o.valueSize, rng), ExpectedRevision: &zero})
		if err != nil && client.Reason(err) != rpcpb.ReasonRevisionMismatch {
			return fmt.Errorf("bench preload: %w", err)
		}
	}
	return nil
}
