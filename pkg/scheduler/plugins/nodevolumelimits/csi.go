// Package nodevolumelimits filters nodes where attaching the pod's CSI
// volumes would exceed the driver's per-node limit (CSINode allocatable).
package nodevolumelimits

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-helpers/storage/ephemeral"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	csitrans "k8s.io/csi-translation-lib"
	csilibplugins "k8s.io/csi-translation-lib/plugins"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.NodeVolumeLimits

// ErrReasonMaxVolumeCountExceeded is the rejection reason.
const ErrReasonMaxVolumeCountExceeded = "node(s) exceed max volume count"

const vaIndexKey = "va.spec.nodename"

// CSILimits is the plugin.
type CSILimits struct {
	csiNodeLister   storagelisters.CSINodeLister
	pvLister        corelisters.PersistentVolumeLister
	pvcLister       corelisters.PersistentVolumeClaimLister
	scLister        storagelisters.StorageClassLister
	csiDriverLister storagelisters.CSIDriverLister
	vaIndexer       cache.Indexer
	translator      csitrans.CSITranslator
	// randomVolumeIDPrefix names not-yet-provisioned volumes uniquely.
	randomVolumeIDPrefix string
}

var (
	_ framework.PreFilterPlugin   = &CSILimits{}
	_ framework.FilterPlugin      = &CSILimits{}
	_ framework.EnqueueExtensions = &CSILimits{}
)

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	pl := &CSILimits{translator: csitrans.New(), randomVolumeIDPrefix: rand.String(32)}
	f := h.SharedInformerFactory()
	if f == nil {
		return pl, nil
	}
	if h.Served("v1/persistentvolumes") {
		pl.pvLister = f.Core().V1().PersistentVolumes().Lister()
	}
	if h.Served("v1/persistentvolumeclaims") {
		pl.pvcLister = f.Core().V1().PersistentVolumeClaims().Lister()
	}
	if h.Served("storage.k8s.io/v1/storageclasses") {
		pl.scLister = f.Storage().V1().StorageClasses().Lister()
	}
	if h.Served("storage.k8s.io/v1/csinodes") {
		pl.csiNodeLister = f.Storage().V1().CSINodes().Lister()
	}
	if h.Served("storage.k8s.io/v1/csidrivers") {
		pl.csiDriverLister = f.Storage().V1().CSIDrivers().Lister()
	}
	if h.Served("storage.k8s.io/v1/volumeattachments") {
		inf := f.Storage().V1().VolumeAttachments().Informer()
		if err := inf.AddIndexers(cache.Indexers{vaIndexKey: func(obj any) ([]string, error) {
			if va, ok := obj.(*storagev1.VolumeAttachment); ok {
				return []string{va.Spec.NodeName}, nil
			}
			return nil, nil
		}}); err != nil && inf.GetIndexer().GetIndexers()[vaIndexKey] == nil {
			return nil, fmt.Errorf("failed to add index to VA informer: %w", err)
		}
		pl.vaIndexer = inf.GetIndexer()
	}
	return pl, nil
}

func (pl *CSILimits) Name() string { return Name }

func (pl *CSILimits) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.CSINode, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, QueueingHintFn: pl.isSchedulableAfterAssignedPodDeleted},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add}, QueueingHintFn: isSchedulableAfterPVCAdded},
		{Event: framework.ClusterEvent{Resource: framework.VolumeAttachment, ActionType: framework.Delete}},
	}, nil
}

func (pl *CSILimits) isSchedulableAfterAssignedPodDeleted(logger klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	deleted, _, err := framework.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterAssignedPodDeleted: %w", err)
	}
	if len(deleted.Spec.Volumes) == 0 || deleted.Spec.NodeName == "" {
		return framework.QueueSkip, nil
	}
	for _, v := range deleted.Spec.Volumes {
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil || pl.translator.IsInlineMigratable(&v) {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

func isSchedulableAfterPVCAdded(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, pvc, err := framework.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, fmt.Errorf("unexpected objects in isSchedulableAfterPVCAdded: %w", err)
	}
	if pvc.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	for _, v := range pod.Spec.Volumes {
		var name string
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			name = ephemeral.VolumeClaimName(pod, &v)
		}
		if name == pvc.Name {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

// PreFilter skips pods without attachable volumes.
func (pl *CSILimits) PreFilter(_ context.Context, _ *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.PersistentVolumeClaim != nil || v.Ephemeral != nil || pl.translator.IsInlineMigratable(v) {
			return nil, nil
		}
	}
	return nil, framework.NewStatus(framework.Skip)
}

func (pl *CSILimits) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter counts unique CSI volumes per driver already attached to the node
// (by its pods and VolumeAttachments) and the pod's new ones against the
// node's limits.
func (pl *CSILimits) Filter(ctx context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	if len(pod.Spec.Volumes) == 0 {
		return nil
	}
	logger := klog.FromContext(ctx)
	node := nodeInfo.Node()
	var csiNode *storagev1.CSINode
	if pl.csiNodeLister != nil {
		var err error
		if csiNode, err = pl.csiNodeLister.Get(node.Name); err != nil {
			logger.V(5).Info("Could not get a CSINode object for the node", "node", klog.KObj(node), "err", err)
			csiNode = nil
		}
	}
	newVolumes := map[string]string{}
	if err := pl.filterAttachableVolumes(logger, pod, csiNode, true, newVolumes); err != nil {
		if apierrors.IsNotFound(err) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		return framework.AsStatus(err)
	}
	if len(newVolumes) == 0 {
		return nil
	}
	for _, driver := range newVolumes {
		installed, err := pl.checkCSIDriverOnNode(driver, csiNode)
		if err != nil {
			return framework.AsStatus(err)
		}
		if !installed {
			return framework.NewStatus(framework.Unschedulable, fmt.Sprintf("%s CSI driver is not installed on the node", driver))
		}
	}
	limits := volumeLimits(csiNode)
	if len(limits) == 0 {
		return nil
	}
	attached := map[string]string{}
	for _, existing := range nodeInfo.Pods {
		if err := pl.filterAttachableVolumes(logger, existing.Pod, csiNode, false, attached); err != nil {
			return framework.AsStatus(err)
		}
	}
	attachedCount := map[string]int{}
	for name, driver := range attached {
		delete(newVolumes, name)
		attachedCount[driver]++
	}
	for name, driver := range pl.volumeAttachments(logger, node.Name) {
		if _, ok := attached[name]; !ok {
			attachedCount[driver]++
		}
	}
	newCount := map[string]int{}
	for _, driver := range newVolumes {
		newCount[driver]++
	}
	for driver, n := range newCount {
		if limit, ok := limits[driver]; ok && attachedCount[driver]+n > int(limit) {
			return framework.NewStatus(framework.Unschedulable, ErrReasonMaxVolumeCountExceeded)
		}
	}
	return nil
}

func (pl *CSILimits) checkCSIDriverOnNode(driver string, csiNode *storagev1.CSINode) (bool, error) {
	if pl.csiDriverLister == nil {
		return true, nil
	}
	d, err := pl.csiDriverLister.Get(driver)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, fmt.Errorf("error getting CSIDriver for provider %s: %w", driver, err)
	}
	if d.Spec.PreventPodSchedulingIfMissing == nil || !*d.Spec.PreventPodSchedulingIfMissing {
		return true, nil
	}
	if csiNode == nil {
		return false, nil
	}
	for _, nd := range csiNode.Spec.Drivers {
		if nd.Name == driver {
			return true, nil
		}
	}
	return false, nil
}

func (pl *CSILimits) filterAttachableVolumes(logger klog.Logger, pod *v1.Pod, csiNode *storagev1.CSINode, newPod bool, result map[string]string) error {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		var pvcName string
		isEphemeral := false
		switch {
		case vol.PersistentVolumeClaim != nil:
			pvcName = vol.PersistentVolumeClaim.ClaimName
		case vol.Ephemeral != nil:
			pvcName = ephemeral.VolumeClaimName(pod, vol)
			isEphemeral = true
		default:
			if err := pl.checkAttachableInlineVolume(logger, vol, csiNode, pod, result); err != nil {
				return err
			}
			continue
		}
		if pvcName == "" {
			return fmt.Errorf("PersistentVolumeClaim had no name")
		}
		if pl.pvcLister == nil {
			if newPod {
				return fmt.Errorf("looking up PVC %s/%s: %w", pod.Namespace, pvcName, apierrors.NewNotFound(v1.Resource("persistentvolumeclaim"), pvcName))
			}
			continue
		}
		pvc, err := pl.pvcLister.PersistentVolumeClaims(pod.Namespace).Get(pvcName)
		if err != nil {
			if newPod {
				return fmt.Errorf("looking up PVC %s/%s: %w", pod.Namespace, pvcName, err)
			}
			continue
		}
		if isEphemeral {
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return err
			}
		}
		driver, handle := pl.csiDriverInfo(logger, csiNode, pvc)
		if driver == "" || handle == "" {
			continue
		}
		result[driver+"/"+handle] = driver
	}
	return nil
}

func (pl *CSILimits) checkAttachableInlineVolume(logger klog.Logger, vol *v1.Volume, csiNode *storagev1.CSINode, pod *v1.Pod, result map[string]string) error {
	if !pl.translator.IsInlineMigratable(vol) {
		return nil
	}
	provisioner, err := pl.translator.GetInTreePluginNameFromSpec(nil, vol)
	if err != nil {
		return fmt.Errorf("looking up provisioner name for volume %s: %w", vol.Name, err)
	}
	if !isCSIMigrationOn(csiNode, provisioner) {
		return nil
	}
	pv, err := pl.translator.TranslateInTreeInlineVolumeToCSI(logger, vol, pod.Namespace)
	if err != nil || pv == nil {
		return fmt.Errorf("converting volume(%s) from inline to csi: %w", vol.Name, err)
	}
	driver, err := pl.translator.GetCSINameFromInTreeName(provisioner)
	if err != nil {
		return fmt.Errorf("looking up CSI driver name for provisioner %s: %w", provisioner, err)
	}
	if pv.Spec.CSI == nil {
		return nil
	}
	result[driver+"/"+pv.Spec.CSI.VolumeHandle] = driver
	return nil
}

func (pl *CSILimits) csiDriverInfo(logger klog.Logger, csiNode *storagev1.CSINode, pvc *v1.PersistentVolumeClaim) (string, string) {
	pvName := pvc.Spec.VolumeName
	if pvName == "" || pl.pvLister == nil {
		return pl.csiDriverInfoFromSC(logger, csiNode, pvc)
	}
	pv, err := pl.pvLister.Get(pvName)
	if err != nil {
		return pl.csiDriverInfoFromSC(logger, csiNode, pvc)
	}
	src := pv.Spec.CSI
	if src == nil {
		if !pl.translator.IsPVMigratable(pv) {
			return "", ""
		}
		plugin, err := pl.translator.GetInTreePluginNameFromSpec(pv, nil)
		if err != nil || !isCSIMigrationOn(csiNode, plugin) {
			return "", ""
		}
		csiPV, err := pl.translator.TranslateInTreePVToCSI(logger, pv)
		if err != nil || csiPV.Spec.CSI == nil {
			return "", ""
		}
		src = csiPV.Spec.CSI
	}
	return src.Driver, src.VolumeHandle
}

func (pl *CSILimits) csiDriverInfoFromSC(logger klog.Logger, csiNode *storagev1.CSINode, pvc *v1.PersistentVolumeClaim) (string, string) {
	scName := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if scName == "" || pl.scLister == nil {
		return "", ""
	}
	sc, err := pl.scLister.Get(scName)
	if err != nil {
		return "", ""
	}
	// Not provisioned yet: a name unique to the claim stands for the volume.
	handle := fmt.Sprintf("%s-%s/%s", pl.randomVolumeIDPrefix, pvc.Namespace, pvc.Name)
	if pl.translator.IsMigratableIntreePluginByName(sc.Provisioner) {
		if !isCSIMigrationOn(csiNode, sc.Provisioner) {
			return "", ""
		}
		driver, err := pl.translator.GetCSINameFromInTreeName(sc.Provisioner)
		if err != nil {
			return "", ""
		}
		return driver, handle
	}
	return sc.Provisioner, handle
}

func (pl *CSILimits) volumeAttachments(logger klog.Logger, node string) map[string]string {
	out := map[string]string{}
	if pl.vaIndexer == nil || pl.pvLister == nil {
		return out
	}
	objs, err := pl.vaIndexer.ByIndex(vaIndexKey, node)
	if err != nil {
		return out
	}
	for _, o := range objs {
		va, ok := o.(*storagev1.VolumeAttachment)
		if !ok || va.Spec.NodeName != node || va.Spec.Attacher == "" || va.Spec.Source.PersistentVolumeName == nil {
			continue
		}
		pv, err := pl.pvLister.Get(*va.Spec.Source.PersistentVolumeName)
		if err != nil || pv.Spec.CSI == nil {
			continue
		}
		out[va.Spec.Attacher+"/"+pv.Spec.CSI.VolumeHandle] = va.Spec.Attacher
	}
	return out
}

func volumeLimits(csiNode *storagev1.CSINode) map[string]int64 {
	out := map[string]int64{}
	if csiNode == nil {
		return out
	}
	for _, d := range csiNode.Spec.Drivers {
		if d.Allocatable != nil && d.Allocatable.Count != nil {
			out[d.Name] = int64(*d.Allocatable.Count)
		}
	}
	return out
}

// isCSIMigrationOn: migration is complete (GA) for these in-tree plugins.
func isCSIMigrationOn(csiNode *storagev1.CSINode, plugin string) bool {
	if csiNode == nil || plugin == "" {
		return false
	}
	switch plugin {
	case csilibplugins.AWSEBSInTreePluginName, csilibplugins.PortworxVolumePluginName, csilibplugins.GCEPDInTreePluginName,
		csilibplugins.AzureDiskInTreePluginName, csilibplugins.CinderInTreePluginName:
		return true
	}
	return false
}
