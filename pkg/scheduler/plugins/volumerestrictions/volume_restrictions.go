// Package volumerestrictions filters nodes where the pod's volumes conflict
// with volumes in use (same GCE PD, EBS volume, RBD image or iSCSI IQN) and
// enforces ReadWriteOncePod claims.
package volumerestrictions

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.VolumeRestrictions

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// Rejection reasons.
const (
	ErrReasonDiskConflict             = "node(s) had no available disk"
	ErrReasonReadWriteOncePodConflict = "node(s) unavailable due to PersistentVolumeClaim with ReadWriteOncePod access mode already in-use by another pod"
)

// VolumeRestrictions is the plugin.
type VolumeRestrictions struct {
	pvcLister    corelisters.PersistentVolumeClaimLister
	sharedLister framework.SharedLister
}

var (
	_ framework.PreFilterPlugin   = &VolumeRestrictions{}
	_ framework.FilterPlugin      = &VolumeRestrictions{}
	_ framework.EnqueueExtensions = &VolumeRestrictions{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &VolumeRestrictions{sharedLister: h.SnapshotSharedLister()}
	if h.SharedInformerFactory() != nil && h.Served("v1/persistentvolumeclaims") {
		pl.pvcLister = h.SharedInformerFactory().Core().V1().PersistentVolumeClaims().Lister()
	}
	return pl, nil
}

func (pl *VolumeRestrictions) Name() string { return Name }

type preFilterState struct {
	readWriteOncePodPVCs sets.Set[string]
	// conflictingPVCRefCount counts the pod's RWOP claims already in use.
	conflictingPVCRefCount int
}

func (s *preFilterState) Clone() framework.StateData {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

func (s *preFilterState) updateWithPod(pi *framework.PodInfo, multiplier int) {
	for _, v := range pi.Pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && s.readWriteOncePodPVCs.Has(v.PersistentVolumeClaim.ClaimName) {
			s.conflictingPVCRefCount += multiplier
		}
	}
}

func needsRestrictionsCheck(v v1.Volume) bool {
	return v.GCEPersistentDisk != nil || v.AWSElasticBlockStore != nil || v.RBD != nil || v.ISCSI != nil
}

// PreFilter finds the pod's ReadWriteOncePod claims already in use.
func (pl *VolumeRestrictions) PreFilter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	needsCheck := false
	for i := range pod.Spec.Volumes {
		if needsRestrictionsCheck(pod.Spec.Volumes[i]) {
			needsCheck = true
			break
		}
	}
	pvcs, err := pl.readWriteOncePodPVCs(pod)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		return nil, framework.AsStatus(err)
	}
	s := &preFilterState{readWriteOncePodPVCs: pvcs}
	for pvc := range pvcs {
		if pl.sharedLister.StorageInfos().IsPVCUsedByPods(pod.Namespace + "/" + pvc) {
			s.conflictingPVCRefCount++
		}
	}
	if !needsCheck && s.conflictingPVCRefCount == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, s)
	return nil, nil
}

func (pl *VolumeRestrictions) readWriteOncePodPVCs(pod *v1.Pod) (sets.Set[string], error) {
	out := sets.New[string]()
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		if pl.pvcLister == nil {
			return nil, apierrors.NewNotFound(v1.Resource("persistentvolumeclaim"), v.PersistentVolumeClaim.ClaimName)
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(v.PersistentVolumeClaim.ClaimName)
		if err != nil {
			return nil, err
		}
		for _, m := range pvc.Spec.AccessModes {
			if m == v1.ReadWriteOncePod {
				out.Insert(pvc.Name)
			}
		}
	}
	return out, nil
}

func (pl *VolumeRestrictions) PreFilterExtensions() framework.PreFilterExtensions { return pl }

// AddPod counts RWOP claims of an added pod.
func (pl *VolumeRestrictions) AddPod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pi, 1)
	return nil
}

// RemovePod uncounts RWOP claims of a removed pod.
func (pl *VolumeRestrictions) RemovePod(_ context.Context, state *framework.CycleState, _ *v1.Pod, pi *framework.PodInfo, _ *framework.NodeInfo) *framework.Status {
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	s.updateWithPod(pi, -1)
	return nil
}

func getPreFilterState(state *framework.CycleState) (*preFilterState, error) {
	c, err := state.Read(preFilterStateKey)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q from cycleState", preFilterStateKey)
	}
	s, ok := c.(*preFilterState)
	if !ok {
		return nil, fmt.Errorf("%+v convert to volumerestrictions.state error", c)
	}
	return s, nil
}

func isVolumeConflict(volume *v1.Volume, pod *v1.Pod) bool {
	for _, ev := range pod.Spec.Volumes {
		if volume.GCEPersistentDisk != nil && ev.GCEPersistentDisk != nil {
			d, ed := volume.GCEPersistentDisk, ev.GCEPersistentDisk
			if d.PDName == ed.PDName && !(d.ReadOnly && ed.ReadOnly) {
				return true
			}
		}
		if volume.AWSElasticBlockStore != nil && ev.AWSElasticBlockStore != nil &&
			volume.AWSElasticBlockStore.VolumeID == ev.AWSElasticBlockStore.VolumeID {
			return true
		}
		if volume.ISCSI != nil && ev.ISCSI != nil && volume.ISCSI.IQN == ev.ISCSI.IQN && !(volume.ISCSI.ReadOnly && ev.ISCSI.ReadOnly) {
			return true
		}
		if volume.RBD != nil && ev.RBD != nil {
			r, er := volume.RBD, ev.RBD
			if haveOverlap(r.CephMonitors, er.CephMonitors) && r.RBDPool == er.RBDPool && r.RBDImage == er.RBDImage && !(r.ReadOnly && er.ReadOnly) {
				return true
			}
		}
	}
	return false
}

func haveOverlap(a, b []string) bool {
	return sets.New(a...).HasAny(b...)
}

func satisfyVolumeConflicts(pod *v1.Pod, nodeInfo *framework.NodeInfo) bool {
	for i := range pod.Spec.Volumes {
		v := pod.Spec.Volumes[i]
		if !needsRestrictionsCheck(v) {
			continue
		}
		for _, existing := range nodeInfo.Pods {
			if isVolumeConflict(&v, existing.Pod) {
				return false
			}
		}
	}
	return true
}

// Filter rejects disk conflicts on the node and RWOP claims in use anywhere.
func (pl *VolumeRestrictions) Filter(_ context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if !satisfyVolumeConflicts(pod, nodeInfo) {
		return framework.NewStatus(framework.Unschedulable, ErrReasonDiskConflict)
	}
	s, err := getPreFilterState(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.conflictingPVCRefCount > 0 {
		return framework.NewStatus(framework.Unschedulable, ErrReasonReadWriteOncePodConflict)
	}
	return nil
}

func (pl *VolumeRestrictions) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, QueueingHintFn: isSchedulableAfterAssignedPodDeleted},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add}, QueueingHintFn: isSchedulableAfterPVCAdded},
	}, nil
}

func isSchedulableAfterPVCAdded(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, pvc, err := framework.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterPersistentVolumeClaimChange: %w", err)
	}
	if pvc.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

func isSchedulableAfterAssignedPodDeleted(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	deleted, _, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterAssignedPodDeleted: %w", err)
	}
	if deleted.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	if !satisfyVolumeConflicts(pod, framework.NewNodeInfo(deleted)) {
		return framework.Queue, nil
	}
	claims := sets.New[string]()
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims.Insert(v.PersistentVolumeClaim.ClaimName)
		}
	}
	for _, v := range deleted.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && claims.Has(v.PersistentVolumeClaim.ClaimName) {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}
