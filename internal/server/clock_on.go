//go:build prism_clock

package server

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prism/controlplane/cluster"
)

// withTestClock gives the node a clock the Jepsen clock nemesis can skew
// and serves POST /debug/clock?offset=DURATION&rate=FLOAT (test builds
// only: go build -tags prism_clock).
func withTestClock(cc *cluster.Config) func(*http.ServeMux) {
	c := cluster.NewSkewClock()
	cc.Clock = c
	return func(mux *http.ServeMux) {
		mux.HandleFunc("POST /debug/clock", func(w http.ResponseWriter, r *http.Request) {
			offset, err := time.ParseDuration(r.URL.Query().Get("offset"))
			if err != nil {
				http.Error(w, "offset: "+err.Error(), http.StatusBadRequest)
				return
			}
			rate, err := strconv.ParseFloat(r.URL.Query().Get("rate"), 64)
			if err != nil || rate <= 0 || rate > 10 {
				http.Error(w, "rate: want a number in (0, 10]", http.StatusBadRequest)
				return
			}
			c.Set(offset, rate)
			fmt.Fprintf(w, "clock %s (offset %s, rate %g)\n", c.Now().Format(time.RFC3339Nano), offset, rate)
		})
	}
}
