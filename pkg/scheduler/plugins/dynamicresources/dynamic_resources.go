// Package dynamicresources is the DynamicResources plugin without a device
// allocator: a pod's ResourceClaims must exist (PreEnqueue) and already be
// allocated (PreFilter); the pod goes only to nodes an allocation's node
// selector allows (Filter), and its claims are reserved for it before it is
// bound (PreBind). skiff has no structured-parameters allocator, so a claim
// nothing else allocated keeps its pod Pending ("cannot allocate all
// claims"), which is what upstream reports when no device fits, rather than
// running the pod without its devices.
package dynamicresources

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	resourcelisters "k8s.io/client-go/listers/resource/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.DynamicResources

const stateKey framework.StateKey = Name

// Reasons, upstream's words.
const (
	ErrReasonNotAllocated = "cannot allocate all claims"
	ErrReasonNotOnNode    = "resourceclaim not available on the node"
	ErrReasonInUse        = "resourceclaim in use"
)

// DynamicResources is the plugin.
type DynamicResources struct {
	handle framework.Handle
	// claims is nil when the API server does not serve ResourceClaims: the
	// plugin then lets every pod through, as upstream with DRA off.
	claims resourcelisters.ResourceClaimLister
}

var (
	_ framework.PreEnqueuePlugin  = &DynamicResources{}
	_ framework.PreFilterPlugin   = &DynamicResources{}
	_ framework.FilterPlugin      = &DynamicResources{}
	_ framework.PreBindPlugin     = &DynamicResources{}
	_ framework.EnqueueExtensions = &DynamicResources{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &DynamicResources{handle: h}
	if f := h.SharedInformerFactory(); f != nil && h.Served("resource.k8s.io/v1/resourceclaims") {
		pl.claims = f.Resource().V1().ResourceClaims().Lister()
	}
	return pl, nil
}

func (pl *DynamicResources) Name() string { return Name }

// EventsToRegister: a claim that appears or changes (gets allocated,
// released) may let its pods go on.
func (pl *DynamicResources) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		// The pod's own status names a claim made for it.
		{Event: framework.ClusterEvent{Resource: framework.Pod, ActionType: framework.UpdatePodGeneratedResourceClaim}, QueueingHintFn: isSchedulableAfterOwnClaimRecorded},
		{Event: framework.ClusterEvent{Resource: framework.ResourceClaim, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterClaimChange},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
	}, nil
}

func isSchedulableAfterOwnClaimRecorded(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, p, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if p.UID != pod.UID {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

func isSchedulableAfterClaimChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, claim, err := framework.As[*resourceapi.ResourceClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if claim.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	if metav1.IsControlledBy(claim, pod) {
		return framework.Queue, nil
	}
	for name := range resourceclaim.PodClaims(pod) {
		if name == claim.Name {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

// podClaims returns the pod's claims, or why the pod cannot be scheduled
// yet (a claim not created, being deleted, or made for another pod).
func (pl *DynamicResources) podClaims(pod *v1.Pod) ([]*resourceapi.ResourceClaim, error) {
	var out []*resourceapi.ResourceClaim
	for i := range pod.Spec.ResourceClaims {
		name, checkOwner, err := resourceclaim.Name(pod, &pod.Spec.ResourceClaims[i])
		if err != nil {
			return nil, err
		}
		if name == nil {
			continue // intentionally without a claim
		}
		claim, err := pl.claims.ResourceClaims(pod.Namespace).Get(*name)
		if err != nil {
			return nil, err
		}
		if claim.DeletionTimestamp != nil {
			return nil, fmt.Errorf("resourceclaim %q is being deleted", claim.Name)
		}
		if checkOwner {
			if err := resourceclaim.IsForPod(pod, claim, false); err != nil {
				return nil, err
			}
		}
		out = append(out, claim)
	}
	return out, nil
}

// PreEnqueue keeps pods whose claims do not exist yet out of the queue.
func (pl *DynamicResources) PreEnqueue(_ context.Context, pod *v1.Pod) *framework.Status {
	if pl.claims == nil || len(pod.Spec.ResourceClaims) == 0 {
		return nil
	}
	if _, err := pl.podClaims(pod); err != nil {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	return nil
}

type stateData struct {
	claims []*resourceapi.ResourceClaim
	// selectors are the allocations' node selectors (nil: any node).
	selectors []*nodeaffinity.NodeSelector
}

func (s *stateData) Clone() framework.StateData { return s }

// PreFilter requires every claim to be allocated and free to reserve.
func (pl *DynamicResources) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	if pl.claims == nil || len(pod.Spec.ResourceClaims) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	claims, err := pl.podClaims(pod)
	if err != nil {
		return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	s := &stateData{claims: claims}
	for _, claim := range claims {
		if claim.Status.Allocation == nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNotAllocated)
		}
		if !resourceclaim.IsReservedForPod(pod, claim, false) && !canReserve(claim) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonInUse)
		}
		if sel := claim.Status.Allocation.NodeSelector; sel != nil {
			ns, err := nodeaffinity.NewNodeSelector(sel)
			if err != nil {
				return nil, framework.AsStatus(fmt.Errorf("resourceclaim %s: node selector: %w", claim.Name, err))
			}
			s.selectors = append(s.selectors, ns)
		}
	}
	if len(claims) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(stateKey, s)
	return nil, nil
}

func (pl *DynamicResources) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter: the node must be one every allocation allows.
func (pl *DynamicResources) Filter(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return framework.AsStatus(fmt.Errorf("read %s state: %w", Name, err))
	}
	node := nodeInfo.Node()
	for _, sel := range d.(*stateData).selectors {
		if !sel.Match(node) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNotOnNode)
		}
	}
	return nil
}

// PreBind reserves the claims for the pod, so that no other pod takes them
// and the kubelet may prepare them.
func (pl *DynamicResources) PreBind(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ string) *framework.Status {
	d, err := state.Read(stateKey)
	if err != nil {
		return nil // PreFilter skipped: no claims
	}
	client := pl.handle.ClientSet()
	for _, claim := range d.(*stateData).claims {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if resourceclaim.IsReservedForPod(pod, claim, false) {
				return nil
			}
			c := claim.DeepCopy()
			c.Status.ReservedFor = append(c.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: pod.Name, UID: pod.UID})
			_, err := client.ResourceV1().ResourceClaims(c.Namespace).UpdateStatus(ctx, c, metav1.UpdateOptions{})
			if apierrors.IsConflict(err) {
				fresh, gerr := client.ResourceV1().ResourceClaims(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
				if gerr != nil {
					return gerr
				}
				if fresh.Status.Allocation == nil || !canReserve(fresh) && !resourceclaim.IsReservedForPod(pod, fresh, false) {
					return fmt.Errorf("resourceclaim %s changed: no longer allocated or free", fresh.Name)
				}
				claim = fresh
			}
			return err
		})
		if err != nil {
			return framework.AsStatus(fmt.Errorf("reserve resourceclaim %s for pod: %w", claim.Name, err))
		}
	}
	return nil
}

// canReserve: the claim may take one more consumer (status.reservedFor is
// bounded; the library puts no other limit on sharing).
func canReserve(claim *resourceapi.ResourceClaim) bool {
	return resourceclaim.CanBeReserved(claim) && len(claim.Status.ReservedFor) < resourceapi.ResourceClaimReservedForMaxSize
}
