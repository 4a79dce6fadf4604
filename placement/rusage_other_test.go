//go:build !unix

package placement

import "time"

func processCPU() time.Duration { return 0 }
