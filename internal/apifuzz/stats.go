package apifuzz

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
)

// Stats counts the calls of a run by method and gRPC code.
type Stats struct {
	mu       sync.Mutex
	calls    map[string]map[codes.Code]int64 // full method → code → calls
	modes    map[string]int64
	skipped  map[string]int64 // refused by Config.Allow
	examples map[string][]string
	busy     map[string]time.Duration // time spent in calls, per method
	Elapsed  time.Duration
}

func newStats() *Stats {
	return &Stats{calls: map[string]map[codes.Code]int64{}, modes: map[string]int64{},
		skipped: map[string]int64{}, examples: map[string][]string{}, busy: map[string]time.Duration{}}
}

// examplesPerKey bounds the requests kept per (method, code) of interest.
const examplesPerKey = 3

func (s *Stats) record(method, mode string, c codes.Code, took time.Duration, example func() string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.busy[method] += took
	if s.calls[method] == nil {
		s.calls[method] = map[codes.Code]int64{}
	}
	s.calls[method][c]++
	s.modes[mode]++
	if example != nil {
		k := method + " " + c.String()
		if len(s.examples[k]) < examplesPerKey {
			s.examples[k] = append(s.examples[k], example())
		}
	}
}

func (s *Stats) skip(method string) {
	s.mu.Lock()
	s.skipped[method]++
	s.mu.Unlock()
}

// Total is the number of calls made.
func (s *Stats) Total() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, byCode := range s.calls {
		for _, k := range byCode {
			n += k
		}
	}
	return n
}

// Calls is the number of calls of one method (its full path).
func (s *Stats) Calls(method string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, k := range s.calls[method] {
		n += k
	}
	return n
}

// Count is the number of calls of a method that ended with code c.
func (s *Stats) Count(method string, c codes.Code) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method][c]
}

// Examples are the requests kept, as text after the status message, for
// "method code" keys of suspect answers (Unknown, and Internal other than
// gRPC's refusal of undecodable bytes).
func (s *Stats) Examples() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for k, v := range s.examples {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// Table is the summary: calls per method with their codes, per service,
// by mode, and the total with its rate.
func (s *Stats) Table() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	methods := make([]string, 0, len(s.calls))
	for m := range s.calls {
		methods = append(methods, m)
	}
	sort.Strings(methods)
	perService := map[string]int64{}
	var total int64
	fmt.Fprintf(&b, "%-58s %8s %8s  %s\n", "method", "calls", "mean", "codes")
	for _, m := range methods {
		var n int64
		var cs []string
		for c, k := range s.calls[m] {
			n += k
			cs = append(cs, fmt.Sprintf("%s:%d", c, k))
		}
		sort.Strings(cs)
		if k := s.skipped[m]; k > 0 {
			cs = append(cs, fmt.Sprintf("(skipped:%d)", k))
		}
		svc := strings.Split(strings.TrimPrefix(m, "/"), "/")[0]
		perService[svc] += n
		total += n
		mean := time.Duration(0)
		if n > 0 {
			mean = s.busy[m] / time.Duration(n)
		}
		fmt.Fprintf(&b, "%-58s %8d %8v  %s\n", m, n, mean.Round(100*time.Microsecond), strings.Join(cs, " "))
	}
	var svcs []string
	for svc := range perService {
		svcs = append(svcs, svc)
	}
	sort.Strings(svcs)
	for _, svc := range svcs {
		fmt.Fprintf(&b, "service %-50s %8d\n", svc, perService[svc])
	}
	var modes []string
	for m, k := range s.modes {
		modes = append(modes, fmt.Sprintf("%s:%d", m, k))
	}
	sort.Strings(modes)
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(total) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(&b, "total %d calls in %v (%.0f calls/s); modes %s\n", total, s.Elapsed.Round(time.Millisecond), rate, strings.Join(modes, " "))
	return b.String()
}
