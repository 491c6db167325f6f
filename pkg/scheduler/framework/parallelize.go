package framework

import (
	"context"
	"math"

	"k8s.io/client-go/util/workqueue"
)

// DefaultParallelism is upstream's default number of workers.
const DefaultParallelism = 16

// NewParallelizer returns a Parallelizer with the given number of workers.
func NewParallelizer(workers int) Parallelizer {
	if workers < 1 {
		workers = DefaultParallelism
	}
	return parallelizer{workers: workers}
}

type parallelizer struct{ workers int }

// chunkSize balances per-chunk overhead against load spread, as upstream:
// about sqrt(n), but not more than n/workers+1.
func chunkSize(n, workers int) int {
	s := int(math.Sqrt(float64(n)))
	if r := n/workers + 1; s > r {
		s = r
	}
	return max(s, 1)
}

func (p parallelizer) Until(ctx context.Context, pieces int, work func(i int)) {
	if pieces == 0 {
		return
	}
	if pieces == 1 {
		work(0)
		return
	}
	workqueue.ParallelizeUntil(ctx, p.workers, pieces, work, workqueue.WithChunkSize(chunkSize(pieces, p.workers)))
}
