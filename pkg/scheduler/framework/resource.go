package framework

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"
)

// The requests the scheduler assumes for containers that set none, so that
// many zero-request pods do not pile onto one node (upstream's values).
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// Resource is a set of compute resources as plain integers.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is the node's allocatable "pods".
	AllowedPodNumber int
	// ScalarResources are extended resources, hugepages and attachable
	// volume counts.
	ScalarResources map[v1.ResourceName]int64
}

// IsScalarResourceName reports whether name is tracked in ScalarResources.
func IsScalarResourceName(name v1.ResourceName) bool {
	return v1helper.IsExtendedResourceName(name) || v1helper.IsHugePageResourceName(name) ||
		v1helper.IsPrefixedNativeResource(name) || v1helper.IsAttachableVolumeResourceName(name)
}

// NewResource converts a ResourceList.
func NewResource(rl v1.ResourceList) *Resource {
	r := &Resource{}
	r.Add(rl)
	return r
}

// Add adds rl to r.
func (r *Resource) Add(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case v1.ResourceMemory:
			r.Memory += q.Value()
		case v1.ResourcePods:
			r.AllowedPodNumber += int(q.Value())
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		default:
			if IsScalarResourceName(name) {
				r.AddScalar(name, q.Value())
			}
		}
	}
}

// SetMaxResource raises each resource of r to rl's value where it is larger.
func (r *Resource) SetMaxResource(rl v1.ResourceList) {
	for name, q := range rl {
		switch name {
		case v1.ResourceMemory:
			r.Memory = max(r.Memory, q.Value())
		case v1.ResourceCPU:
			r.MilliCPU = max(r.MilliCPU, q.MilliValue())
		case v1.ResourceEphemeralStorage:
			r.EphemeralStorage = max(r.EphemeralStorage, q.Value())
		default:
			if IsScalarResourceName(name) {
				r.SetScalar(name, max(r.ScalarResources[name], q.Value()))
			}
		}
	}
}

// AddScalar adds quantity to a scalar resource.
func (r *Resource) AddScalar(name v1.ResourceName, quantity int64) {
	r.SetScalar(name, r.ScalarResources[name]+quantity)
}

// SetScalar sets a scalar resource.
func (r *Resource) SetScalar(name v1.ResourceName, quantity int64) {
	if r.ScalarResources == nil {
		r.ScalarResources = map[v1.ResourceName]int64{}
	}
	r.ScalarResources[name] = quantity
}

// Clone copies r.
func (r *Resource) Clone() *Resource {
	out := *r
	if r.ScalarResources != nil {
		out.ScalarResources = make(map[v1.ResourceName]int64, len(r.ScalarResources))
		for k, v := range r.ScalarResources {
			out.ScalarResources[k] = v
		}
	}
	return &out
}

// IsZero reports whether no resource is requested.
func (r *Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.ScalarResources {
		if v != 0 {
			return false
		}
	}
	return true
}

// PodResource is what a pod takes from its node.
type PodResource struct {
	Resource Resource
	// Non0CPU and Non0Mem count containers without requests at the
	// default requests; they feed scoring only.
	Non0CPU int64
	Non0Mem int64
}

// RequestsOptions are the options every request computation uses:
// in-place resize (GA) and pod-level resources (beta, on) as upstream.
func RequestsOptions() resourcehelper.PodResourcesOptions {
	return resourcehelper.PodResourcesOptions{
		UseStatusResources: true,
		InPlacePodLevelResourcesVerticalScalingEnabled: true,
	}
}

// PodRequests are the pod's effective requests: containers, init and
// sidecar containers, overhead and pod-level resources.
func PodRequests(pod *v1.Pod) v1.ResourceList {
	return resourcehelper.PodRequests(pod, RequestsOptions())
}

// PodRequestsForScheduling is the request of a pod that is not yet on a
// node (no status resources to consider).
func PodRequestsForScheduling(pod *v1.Pod) *Resource {
	reqs := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	r := &Resource{}
	r.SetMaxResource(reqs)
	return r
}

// CalculatePodResource computes what pod takes from its node, with
// non-zero defaults for scoring.
func CalculatePodResource(pod *v1.Pod) PodResource {
	opts := RequestsOptions()
	requests := resourcehelper.PodRequests(pod, opts)
	podLevel := resourcehelper.IsPodLevelRequestsSet(pod)
	nonMissing := nonMissingContainerRequests(requests, podLevel)
	non0 := requests
	if len(nonMissing) > 0 {
		opts.NonMissingContainerRequests = nonMissing
		non0 = resourcehelper.PodRequests(pod, opts)
	}
	cpu, mem := non0[v1.ResourceCPU], non0[v1.ResourceMemory]
	var res Resource
	res.Add(requests)
	return PodResource{Resource: res, Non0CPU: cpu.MilliValue(), Non0Mem: mem.Value()}
}

// nonMissingContainerRequests are the defaults applied to containers that
// request no cpu or memory; with pod-level requests, only what the pod
// level leaves unset.
func nonMissingContainerRequests(requests v1.ResourceList, podLevelSet bool) v1.ResourceList {
	if !podLevelSet {
		return v1.ResourceList{
			v1.ResourceCPU:    *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI),
			v1.ResourceMemory: *resource.NewQuantity(DefaultMemoryRequest, resource.DecimalSI),
		}
	}
	out := v1.ResourceList{}
	if _, ok := requests[v1.ResourceCPU]; !ok {
		out[v1.ResourceCPU] = *resource.NewMilliQuantity(DefaultMilliCPURequest, resource.DecimalSI)
	}
	if _, ok := requests[v1.ResourceMemory]; !ok {
		out[v1.ResourceMemory] = *resource.NewQuantity(DefaultMemoryRequest, resource.DecimalSI)
	}
	return out
}
