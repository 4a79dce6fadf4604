package placement

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"testing"
	"time"
)

const (
	benchShards = 1000
	benchNS     = 100000
)

var (
	benchOnce   sync.Once
	benchFresh  Input // 100k unassigned namespaces, 1000 shards
	benchPlaced Input // the same, placed
)

func benchInputs(b *testing.B) (Input, Input) {
	benchOnce.Do(func() {
		benchFresh = genInput(42, benchShards, benchNS, 600)
		benchPlaced = Apply(benchFresh, Place(DefaultConfig(), benchFresh))
	})
	return benchFresh, benchPlaced
}

// cpuMeter reports process CPU time per op ("cpu-ms"): wall-clock times on
// a shared 2-core machine include waiting for other processes.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-m.start)/1e6/float64(b.N), "cpu-ms")
}

func reportQuantiles(b *testing.B, d []time.Duration) {
	slices.Sort(d)
	q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))]) / 1e6 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// heapUse runs f once with the GC off and reports the bytes it allocated
// (an upper bound of its peak heap) and the heap still live afterwards.
func heapUse(b *testing.B, f func() any) {
	runtime.GC()
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	old := debug.SetGCPercent(-1)
	keep := f()
	runtime.ReadMemStats(&m1)
	debug.SetGCPercent(old)
	runtime.GC()
	runtime.ReadMemStats(&m2)
	runtime.KeepAlive(keep)
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/(1<<20), "peak-heap-MB")
	b.ReportMetric(float64(int64(m2.HeapAlloc)-int64(m0.HeapAlloc))/(1<<20), "live-MB")
}

// BenchmarkFullPlacement: 100,000 unassigned namespaces onto 1,000 shards
// (building the State included). Goal: p99 <= 250 ms, <= 200 MB heap.
func BenchmarkFullPlacement(b *testing.B) {
	fresh, _ := benchInputs(b)
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := Place(cfg, fresh)
		ds = append(ds, time.Since(t0))
		if p.Assigns != benchNS {
			b.Fatalf("assigns %d", p.Assigns)
		}
	}
	b.StopTimer()
	cpu.report(b)
	reportQuantiles(b, ds)
	heapUse(b, func() any { return Place(cfg, fresh) })
}

// BenchmarkSteadyStatePlace: Place on the already placed instance (no changes).
func BenchmarkSteadyStatePlace(b *testing.B) {
	_, placed := benchInputs(b)
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	for i := 0; i < b.N; i++ {
		if p := Place(cfg, placed); len(p.Decisions) != 0 {
			b.Fatal("changes")
		}
	}
	cpu.report(b)
}

// BenchmarkPlaceOne: one new namespace into the placed 100k x 1k instance
// through a State kept by the caller. Goal: <= 1 ms.
func BenchmarkPlaceOne(b *testing.B) {
	_, placed := benchInputs(b)
	st, err := NewState(DefaultConfig(), placed)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	ds := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		ns := Namespace{Name: fmt.Sprintf("bench-%09d", i), Backend: []string{"postgres", "kafka"}[i%2], Demand: Load{20, 5, 100}}
		t0 := time.Now()
		d, err := st.PlaceOne(ns)
		ds = append(ds, time.Since(t0))
		if err != nil || d.Kind != KindAssign {
			b.Fatalf("%+v %v", d, err)
		}
	}
	b.StopTimer()
	reportQuantiles(b, ds)
	b.ReportMetric(float64(ds[len(ds)-1])/1e6, "max-ms")
}

// BenchmarkRepairLose5Shards: re-place the ~500 namespaces of 5 lost shards
// on a State kept by the caller. Goal: <= 20 ms.
func BenchmarkRepairLose5Shards(b *testing.B) {
	_, placed := benchInputs(b)
	cfg := DefaultConfig()
	lost := []string{"s0007", "s0123", "s0456", "s0789", "s0999"}
	b.ReportAllocs()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		st, err := NewState(cfg, placed)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		p, err := st.RemoveShards(lost...)
		ds = append(ds, time.Since(t0))
		if err != nil || p.Moves == 0 || p.Unschedulable != 0 {
			b.Fatalf("moves %d unschedulable %d err %v", p.Moves, p.Unschedulable, err)
		}
		b.ReportMetric(float64(p.Moves), "moves")
	}
	b.StopTimer()
	reportQuantiles(b, ds)
}

// BenchmarkRepairLose5ShardsFromInput: the same repair through Place on a
// fresh Input without those shards (State build included).
func BenchmarkRepairLose5ShardsFromInput(b *testing.B) {
	_, placed := benchInputs(b)
	cfg := DefaultConfig()
	in := Input{Namespaces: placed.Namespaces}
	for _, sh := range placed.Shards {
		switch sh.ID {
		case "s0007", "s0123", "s0456", "s0789", "s0999":
		default:
			in.Shards = append(in.Shards, sh)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		p := Place(cfg, in)
		ds = append(ds, time.Since(t0))
		if p.Moves == 0 || p.Unschedulable != 0 {
			b.Fatalf("moves %d unschedulable %d", p.Moves, p.Unschedulable)
		}
	}
	b.StopTimer()
	cpu.report(b)
	reportQuantiles(b, ds)
}

// BenchmarkRebalance: default budget (0.5 % = 500 moves) on the placed instance.
func BenchmarkRebalance(b *testing.B) {
	_, placed := benchInputs(b)
	cfg := DefaultConfig()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := startCPU()
	moves := 0
	for i := 0; i < b.N; i++ {
		moves = Rebalance(cfg, placed, 0).Moves
	}
	cpu.report(b)
	b.ReportMetric(float64(moves), "moves")
}
