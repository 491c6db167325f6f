// Package volumezone filters nodes outside the zones and regions of the
// pod's bound persistent volumes.
package volumezone

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.VolumeZone

const preFilterStateKey framework.StateKey = "PreFilter" + Name

// ErrReasonConflict is the rejection reason.
const ErrReasonConflict = "node(s) had no available volume zone"

// labelMultiZoneDelimiter separates zones in a PV's zone label.
const labelMultiZoneDelimiter = "__"

var topologyLabels = []string{
	v1.LabelFailureDomainBetaZone,
	v1.LabelFailureDomainBetaRegion,
	v1.LabelTopologyZone,
	v1.LabelTopologyRegion,
}

// VolumeZone is the plugin.
type VolumeZone struct {
	pvLister  corelisters.PersistentVolumeLister
	pvcLister corelisters.PersistentVolumeClaimLister
	scLister  storagelisters.StorageClassLister
}

var (
	_ framework.PreFilterPlugin   = &VolumeZone{}
	_ framework.FilterPlugin      = &VolumeZone{}
	_ framework.EnqueueExtensions = &VolumeZone{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &VolumeZone{}
	if f := h.SharedInformerFactory(); f != nil {
		if h.Served("v1/persistentvolumes") {
			pl.pvLister = f.Core().V1().PersistentVolumes().Lister()
		}
		if h.Served("v1/persistentvolumeclaims") {
			pl.pvcLister = f.Core().V1().PersistentVolumeClaims().Lister()
		}
		if h.Served("storage.k8s.io/v1/storageclasses") {
			pl.scLister = f.Storage().V1().StorageClasses().Lister()
		}
	}
	return pl, nil
}

func (pl *VolumeZone) Name() string { return Name }

type pvTopology struct {
	pvName string
	key    string
	values sets.Set[string]
}

type stateData struct {
	podPVTopologies []pvTopology
}

func (d *stateData) Clone() framework.StateData { return d }

func translateToGALabel(label string) string {
	switch label {
	case v1.LabelFailureDomainBetaRegion:
		return v1.LabelTopologyRegion
	case v1.LabelFailureDomainBetaZone:
		return v1.LabelTopologyZone
	}
	return label
}

func notFoundAsStatus(err error) *framework.Status {
	if err == nil {
		return nil
	}
	if apierrors.IsNotFound(err) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
	}
	return framework.AsStatus(err)
}

// PreFilter collects the topology labels of the pod's bound volumes.
func (pl *VolumeZone) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	topologies, s := pl.pvTopologiesOfPod(pod)
	if !s.IsSuccess() {
		return nil, s
	}
	if len(topologies) == 0 {
		return nil, framework.NewStatus(framework.Skip)
	}
	state.Write(preFilterStateKey, &stateData{podPVTopologies: topologies})
	return nil, nil
}

func (pl *VolumeZone) pvTopologiesOfPod(pod *v1.Pod) ([]pvTopology, *framework.Status) {
	var out []pvTopology
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		if name == "" {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolumeClaim had no name")
		}
		if pl.pvcLister == nil {
			return nil, notFoundAsStatus(apierrors.NewNotFound(v1.Resource("persistentvolumeclaim"), name))
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(name)
		if s := notFoundAsStatus(err); !s.IsSuccess() {
			return nil, s
		}
		pvName := pvc.Spec.VolumeName
		if pvName == "" {
			scName := storagehelpers.GetPersistentVolumeClaimClass(pvc)
			if scName == "" {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolumeClaim had no pv name and storageClass name")
			}
			if pl.scLister == nil {
				return nil, notFoundAsStatus(apierrors.NewNotFound(storagev1.Resource("storageclass"), scName))
			}
			class, err := pl.scLister.Get(scName)
			if s := notFoundAsStatus(err); !s.IsSuccess() {
				return nil, s
			}
			if class.VolumeBindingMode == nil {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("VolumeBindingMode not set for StorageClass %q", scName))
			}
			if *class.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer {
				// Bound later, by VolumeBinding, to a node it checks.
				continue
			}
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, "PersistentVolume had no name")
		}
		if pl.pvLister == nil {
			return nil, notFoundAsStatus(apierrors.NewNotFound(v1.Resource("persistentvolume"), pvName))
		}
		pv, err := pl.pvLister.Get(pvName)
		if s := notFoundAsStatus(err); !s.IsSuccess() {
			return nil, s
		}
		out = append(out, pvTopologies(pv)...)
	}
	return out, nil
}

func pvTopologies(pv *v1.PersistentVolume) []pvTopology {
	var out []pvTopology
	for _, key := range topologyLabels {
		if value, ok := pv.Labels[key]; ok {
			values := sets.New[string]()
			for _, z := range strings.Split(value, labelMultiZoneDelimiter) {
				if z = strings.TrimSpace(z); z != "" {
					values.Insert(z)
				}
			}
			out = append(out, pvTopology{pvName: pv.Name, key: key, values: values})
		}
	}
	return out
}

func (pl *VolumeZone) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter rejects nodes whose zone/region labels do not match the volumes'.
// Nodes without any topology label pass.
func (pl *VolumeZone) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if len(pod.Spec.Volumes) == 0 {
		return nil
	}
	var topologies []pvTopology
	if c, err := state.Read(preFilterStateKey); err == nil {
		topologies = c.(*stateData).podPVTopologies
	} else {
		var s *framework.Status
		if topologies, s = pl.pvTopologiesOfPod(pod); !s.IsSuccess() {
			return s
		}
	}
	node := nodeInfo.Node()
	hasAny := false
	for _, l := range topologyLabels {
		if _, ok := node.Labels[l]; ok {
			hasAny = true
			break
		}
	}
	if !hasAny {
		return nil
	}
	for _, t := range topologies {
		v, ok := node.Labels[t.key]
		if !ok {
			v, ok = node.Labels[translateToGALabel(t.key)]
		}
		if !ok || !t.values.Has(v) {
			klog.FromContext(ctx).V(10).Info("Won't schedule pod onto node due to volume (mismatch on label key)", "pod", klog.KObj(pod), "node", klog.KObj(node), "PV", t.pvName, "PVLabelKey", t.key)
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonConflict)
		}
	}
	return nil
}

func (pl *VolumeZone) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add}, QueueingHintFn: isSchedulableAfterStorageClassAdded},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterPVCChange},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterPVChange},
	}, nil
}

func isSchedulableAfterPVCChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, pvc, err := framework.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterPersistentVolumeClaimChange: %w", err)
	}
	if pvc == nil || pvc.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

func isSchedulableAfterStorageClassAdded(_ klog.Logger, _ *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, sc, err := framework.As[*storagev1.StorageClass](nil, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterStorageClassAdded: %w", err)
	}
	if sc.VolumeBindingMode == nil || *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		return framework.QueueSkip, nil
	}
	return framework.Queue, nil
}

func isSchedulableAfterPVChange(_ klog.Logger, _ *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	original, modified, err := framework.As[*v1.PersistentVolume](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterPersistentVolumeChange: %w", err)
	}
	if original == nil {
		return framework.Queue, nil
	}
	if !reflect.DeepEqual(pvTopologies(original), pvTopologies(modified)) {
		return framework.Queue, nil
	}
	return framework.QueueSkip, nil
}
