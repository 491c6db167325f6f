package load

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// Summary is what one scenario run measured.
type Summary struct {
	Ops     int           // operations that succeeded
	Errors  int           // operations that failed
	Elapsed time.Duration // wall time of the measured phase
	// OpsPerSec is Ops/Elapsed (failed operations do not count).
	OpsPerSec float64
	P50, P90  time.Duration
	P99, Max  time.Duration
	// FirstError is the first failure, for the report.
	FirstError string
}

func (s Summary) String() string {
	return fmt.Sprintf("%d ops (%d errors) in %s: %.1f ops/s, p50 %s, p90 %s, p99 %s, max %s",
		s.Ops, s.Errors, s.Elapsed.Round(time.Millisecond), s.OpsPerSec, s.P50, s.P90, s.P99, s.Max)
}

// Percentile is the nearest-rank q-quantile (0 < q <= 1) of sorted
// latencies: the smallest value that at least q of them do not exceed.
// It is 0 for no samples.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return sorted[0]
	}
	// ceil(q*n), minus a hair so that exact products (0.5*10) do not
	// round up through float error.
	rank := int(math.Ceil(q*float64(n) - 1e-9))
	if rank > n {
		rank = n
	}
	if rank < 1 {
		rank = 1
	}
	return sorted[rank-1]
}

// Summarize computes a Summary from raw latencies of successful operations.
func Summarize(latencies []time.Duration, errors int, elapsed time.Duration) Summary {
	sorted := append([]time.Duration(nil), latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	s := Summary{Ops: len(sorted), Errors: errors, Elapsed: elapsed}
	if elapsed > 0 {
		s.OpsPerSec = float64(len(sorted)) / elapsed.Seconds()
	}
	s.P50 = Percentile(sorted, 0.50)
	s.P90 = Percentile(sorted, 0.90)
	s.P99 = Percentile(sorted, 0.99)
	if len(sorted) > 0 {
		s.Max = sorted[len(sorted)-1]
	}
	return s
}

// Recorder collects latencies from concurrent workers.
type Recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	errors    int
	firstErr  error
}

// Record adds one operation: its latency when err is nil, a failure
// otherwise.
func (r *Recorder) Record(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.errors++
		if r.firstErr == nil {
			r.firstErr = err
		}
		return
	}
	r.latencies = append(r.latencies, d)
}

// Summary of what was recorded over elapsed.
func (r *Recorder) Summary(elapsed time.Duration) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summarize(r.latencies, r.errors, elapsed)
	if r.firstErr != nil {
		s.FirstError = r.firstErr.Error()
	}
	return s
}
