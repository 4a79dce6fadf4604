//go:build unix

package placement

import (
	"syscall"
	"time"
)

// processCPU is the CPU time used by the whole process so far (all threads,
// GC workers included), so benchmarks can report cost on a shared machine.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
