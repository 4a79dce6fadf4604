package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/prism/controlplane/fsm/fsmpb"
	"github.com/prism/controlplane/rpc/client"
	"github.com/prism/controlplane/rpc/rpcpb"
)

// provisionResult is the JSON line of `bench provision`.
type provisionResult struct {
	Op          string  `json:"op" yaml:"op"`
	Namespaces  int     `json:"namespaces" yaml:"namespaces"`
	Clients     int     `json:"clients" yaml:"clients"`
	Errors      int     `json:"errors" yaml:"errors"`
	Active      int     `json:"active" yaml:"active"`
	ApplySec    float64 `json:"apply_sec" yaml:"apply_sec"`           // until every apply answered
	AllActiveS  float64 `json:"all_active_sec" yaml:"all_active_sec"` // first apply to last active
	P50Ms       float64 `json:"p50_ms" yaml:"p50_ms"`                 // apply answered → seen active
	P99Ms       float64 `json:"p99_ms" yaml:"p99_ms"`
	MaxMs       float64 `json:"max_ms" yaml:"max_ms"`
	DeleteSec   float64 `json:"delete_sec,omitempty" yaml:"delete_sec,omitempty"` // delete of all until every one is gone
	FirstErr    string  `json:"first_error,omitempty" yaml:"first_error,omitempty"`
	TimedOutOne string  `json:"timed_out,omitempty" yaml:"timed_out,omitempty"` // one namespace not active in time, and its reason
}

func benchProvisionCmd(g *globals, o *benchOpts) *cobra.Command {
	var count int
	var keep bool
	var wait time.Duration
	var prefix string
	c := &cobra.Command{
		Use:   "provision",
		Short: "Apply --count namespaces at once (half Postgres, half Kafka) and time them until active",
		Long: "Creates --count namespaces through --clients clients: even ones keyvalue on postgres (a table each), odd ones " +
			"pubsub on kafka (a topic each, 1 partition), on the cluster's default targets. It polls the list until every one is " +
			"active (or --wait runs out) and reports the time until all were active and the p50/p99 of apply → active. " +
			"Then it deletes them and times that too (--keep leaves them).",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return g.withClient(func(ctx context.Context, cl *client.Client) error {
				res, err := benchProvision(ctx, cl, count, o.clients, prefix, wait, keep)
				if err != nil {
					return err
				}
				return g.emit(res, func(w io.Writer) {
					fmt.Fprintf(w, "%d namespaces: all active in %.1fs (applies took %.1fs); apply→active p50 %.0fms p99 %.0fms max %.0fms; %d errors\n",
						res.Namespaces, res.AllActiveS, res.ApplySec, res.P50Ms, res.P99Ms, res.MaxMs, res.Errors)
				})
			})
		},
	}
	c.Flags().IntVar(&count, "count", 1000, "namespaces to create")
	c.Flags().BoolVar(&keep, "keep", false, "leave the namespaces (and their tables and topics) in place")
	c.Flags().DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for every namespace to be active")
	c.Flags().StringVar(&prefix, "prefix", "bprov", "name prefix of the namespaces")
	return c
}

func benchProvision(ctx context.Context, cl *client.Client, count, clients int, prefix string, wait time.Duration, keep bool) (provisionResult, error) {
	res := provisionResult{Op: "provision", Namespaces: count, Clients: clients}
	if count < 1 || clients < 1 {
		return res, fmt.Errorf("bench provision: --count and --clients must be positive")
	}
	name := func(i int) string { return fmt.Sprintf("%s-%05d", prefix, i) }
	applied := make([]time.Time, count)
	var mu sync.Mutex
	start := time.Now()
	fanOut(count, clients, func(i int) {
		s := &fsmpb.NamespaceSpec{Name: name(i), Abstraction: "keyvalue", Backend: "postgres"}
		if i%2 == 1 {
			s.Abstraction, s.Backend = "pubsub", "kafka"
			s.BackendConfigJson = []byte(`{"kafka":{"partitions":1}}`)
		}
		_, err := cl.Apply(ctx, &rpcpb.ApplyRequest{Spec: s})
		mu.Lock()
		applied[i] = time.Now()
		if err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
		}
		mu.Unlock()
	})
	res.ApplySec = time.Since(start).Seconds()

	active := make([]time.Time, count)
	left := count
	deadline := time.Now().Add(wait)
	var last map[string]*fsmpb.Namespace
	for left > 0 && time.Now().Before(deadline) {
		r, err := cl.List(ctx, &rpcpb.ListRequest{Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
		now := time.Now()
		if err == nil {
			last = map[string]*fsmpb.Namespace{}
			for _, ns := range r.Namespaces {
				last[ns.Spec.GetName()] = ns
			}
			for i := 0; i < count; i++ {
				if active[i].IsZero() {
					if ns := last[name(i)]; ns != nil && ns.Status == fsmpb.NamespaceStatus_NAMESPACE_STATUS_ACTIVE {
						active[i] = now
						left--
					}
				}
			}
		}
		if left > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	var lat []time.Duration
	var end time.Time
	for i := 0; i < count; i++ {
		if active[i].IsZero() {
			if res.TimedOutOne == "" && last != nil {
				if ns := last[name(i)]; ns != nil {
					res.TimedOutOne = name(i) + ": " + ns.Status.String() + " " + ns.StatusReason
				}
			}
			continue
		}
		res.Active++
		lat = append(lat, active[i].Sub(applied[i]))
		if active[i].After(end) {
			end = active[i]
		}
	}
	if !end.IsZero() {
		res.AllActiveS = end.Sub(start).Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		res.P50Ms, res.P99Ms, res.MaxMs = ms(lat[n/2]), ms(lat[min(n-1, n*99/100)]), ms(lat[n-1])
	}
	if keep {
		return res, nil
	}
	dstart := time.Now()
	fanOut(count, clients, func(i int) { _, _ = cl.Delete(ctx, &rpcpb.DeleteRequest{Name: name(i)}) })
	for time.Now().Before(deadline.Add(wait)) {
		r, err := cl.List(ctx, &rpcpb.ListRequest{Consistency: rpcpb.Consistency_CONSISTENCY_STALE})
		if err == nil {
			live := 0
			for _, ns := range r.Namespaces {
				if strings.HasPrefix(ns.Spec.GetName(), prefix+"-") {
					live++
				}
			}
			if live == 0 {
				res.DeleteSec = time.Since(dstart).Seconds()
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return res, nil
}

// fanOut runs f(0..n-1) on workers goroutines and waits for them all.
func fanOut(n, workers int, f func(i int)) {
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
}
