// Package noderesources holds NodeResourcesFit (filter by requests, score by
// the configured strategy, LeastAllocated by default) and
// NodeResourcesBalancedAllocation (prefer balanced cpu/memory use).
package noderesources

import (
	"math"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
)

// maxCustomPriorityScore is the top of a RequestedToCapacityRatio shape.
const maxCustomPriorityScore = 10

// resourceAllocationScorer scores a node from the requested, allocated and
// allocatable amounts of the configured resources.
type resourceAllocationScorer struct {
	// useRequested scores by actual requests; otherwise requestless
	// containers count at the default requests.
	useRequested bool
	scorer       func(requested, allocated, allocatable []int64) int64
	resources    []configv1.ResourceSpec
}

func (r *resourceAllocationScorer) score(nodeInfo *framework.NodeInfo, podRequests []int64) int64 {
	n := len(r.resources)
	buf := make([]int64, 3*n)
	requested, allocated, allocatable := buf[:n:n], buf[n:2*n:2*n], buf[2*n:]
	for i := range r.resources {
		name := v1.ResourceName(r.resources[i].Name)
		if podRequests[i] == 0 && framework.IsScalarResourceName(name) {
			continue
		}
		alloc, used := r.nodeAmounts(nodeInfo, name)
		if alloc == 0 {
			continue
		}
		allocatable[i] = alloc
		allocated[i] = used
		requested[i] = used + podRequests[i]
	}
	return r.scorer(requested, allocated, allocatable)
}

func (r *resourceAllocationScorer) nodeAmounts(nodeInfo *framework.NodeInfo, name v1.ResourceName) (int64, int64) {
	requested := nodeInfo.NonZeroRequested
	if r.useRequested {
		requested = nodeInfo.Requested
	}
	switch name {
	case v1.ResourceCPU:
		return nodeInfo.Allocatable.MilliCPU, requested.MilliCPU
	case v1.ResourceMemory:
		return nodeInfo.Allocatable.Memory, requested.Memory
	case v1.ResourceEphemeralStorage:
		return nodeInfo.Allocatable.EphemeralStorage, nodeInfo.Requested.EphemeralStorage
	default:
		if alloc, ok := nodeInfo.Allocatable.ScalarResources[name]; ok {
			return alloc, nodeInfo.Requested.ScalarResources[name]
		}
	}
	return 0, 0
}

func (r *resourceAllocationScorer) podRequests(pod *v1.Pod) []int64 {
	opts := framework.RequestsOptions()
	if !r.useRequested {
		opts.NonMissingContainerRequests = v1.ResourceList{
			v1.ResourceCPU:    *resource.NewMilliQuantity(framework.DefaultMilliCPURequest, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(framework.DefaultMemoryRequest, resource.DecimalSI),
		}
	}
	reqs := resourcehelper.PodRequests(pod, opts)
	out := make([]int64, len(r.resources))
	for i := range r.resources {
		q := reqs[v1.ResourceName(r.resources[i].Name)]
		if v1.ResourceName(r.resources[i].Name) == v1.ResourceCPU {
			out[i] = q.MilliValue()
		} else {
			out[i] = q.Value()
		}
	}
	return out
}

func isBestEffort(requests []int64) bool {
	for _, r := range requests {
		if r != 0 {
			return false
		}
	}
	return true
}

// leastResourceScorer favours nodes with more free capacity.
func leastResourceScorer(resources []configv1.ResourceSpec) func(requested, _, allocatable []int64) int64 {
	return func(requested, _, allocatable []int64) int64 {
		var nodeScore, weightSum int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			w := resources[i].Weight
			nodeScore += leastRequestedScore(requested[i], allocatable[i]) * w
			weightSum += w
		}
		if weightSum == 0 {
			return 0
		}
		return nodeScore / weightSum
	}
}

func leastRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 || requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

// mostResourceScorer favours nodes with less free capacity (bin packing).
func mostResourceScorer(resources []configv1.ResourceSpec) func(requested, _, allocatable []int64) int64 {
	return func(requested, _, allocatable []int64) int64 {
		var nodeScore, weightSum int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			w := resources[i].Weight
			nodeScore += mostRequestedScore(requested[i], allocatable[i]) * w
			weightSum += w
		}
		if weightSum == 0 {
			return 0
		}
		return nodeScore / weightSum
	}
}

func mostRequestedScore(requested, capacity int64) int64 {
	if capacity == 0 {
		return 0
	}
	if requested > capacity {
		requested = capacity
	}
	return requested * framework.MaxNodeScore / capacity
}

type shapePoint struct{ utilization, score int64 }

// brokenLinear interpolates a piecewise-linear function through shape.
func brokenLinear(shape []shapePoint) func(int64) int64 {
	return func(p int64) int64 {
		for i := range shape {
			if p <= shape[i].utilization {
				if i == 0 {
					return shape[0].score
				}
				return shape[i-1].score + (shape[i].score-shape[i-1].score)*(p-shape[i-1].utilization)/(shape[i].utilization-shape[i-1].utilization)
			}
		}
		return shape[len(shape)-1].score
	}
}

// requestedToCapacityRatioScorer scores utilization through a
// user-defined shape.
func requestedToCapacityRatioScorer(resources []configv1.ResourceSpec, shape []configv1.UtilizationShapePoint) func(requested, _, allocatable []int64) int64 {
	points := make([]shapePoint, 0, len(shape))
	for _, p := range shape {
		points = append(points, shapePoint{utilization: int64(p.Utilization), score: int64(p.Score) * (framework.MaxNodeScore / maxCustomPriorityScore)})
	}
	raw := brokenLinear(points)
	perResource := func(requested, capacity int64) int64 {
		if capacity == 0 || requested > capacity {
			return raw(100)
		}
		return raw(requested * 100 / capacity)
	}
	return func(requested, _, allocatable []int64) int64 {
		var nodeScore, weightSum int64
		for i := range requested {
			if allocatable[i] == 0 {
				continue
			}
			w := resources[i].Weight
			if s := perResource(requested[i], allocatable[i]); s > 0 {
				nodeScore += s * w
				weightSum += w
			}
		}
		if weightSum == 0 {
			return 0
		}
		return int64(math.Round(float64(nodeScore) / float64(weightSum)))
	}
}
