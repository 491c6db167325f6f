// Package volumebinding checks the pod's PersistentVolumeClaims: bound
// claims' volumes must allow the node, delay-binding (WaitForFirstConsumer)
// claims must find a matching available volume or be provisionable there.
// In PreBind it binds the chosen volumes and triggers provisioning, then
// waits for the claims to be bound.
package volumebinding

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/storage/ephemeral"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"
	v1helper "k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.VolumeBinding

const stateKey framework.StateKey = Name

// Conflict reasons.
const (
	ErrReasonBindConflict   = "node(s) didn't find available persistent volumes to bind"
	ErrReasonNodeConflict   = "node(s) didn't match PersistentVolume's node affinity"
	ErrReasonNotEnoughSpace = "node(s) did not have enough free storage"
	ErrReasonPVNotExist     = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
)

// VolumeBinding is the plugin.
type VolumeBinding struct {
	handle      framework.Handle
	pvcLister   corelisters.PersistentVolumeClaimLister
	pvLister    corelisters.PersistentVolumeLister
	classLister storagelisters.StorageClassLister
	bindTimeout time.Duration
	shape       []configv1.UtilizationShapePoint

	// assumed maps PVs chosen for pods still being bound to their claim
	// key, so that two pods do not pick the same volume before the
	// informer sees the binding.
	mu      sync.Mutex
	assumed map[string]string
}

var (
	_ framework.PreFilterPlugin   = &VolumeBinding{}
	_ framework.FilterPlugin      = &VolumeBinding{}
	_ framework.ReservePlugin     = &VolumeBinding{}
	_ framework.PreBindPlugin     = &VolumeBinding{}
	_ framework.PreScorePlugin    = &VolumeBinding{}
	_ framework.ScorePlugin       = &VolumeBinding{}
	_ framework.EnqueueExtensions = &VolumeBinding{}
)

// New returns the plugin.
func New(_ context.Context, obj runtime.Object, h framework.Handle) (framework.Plugin, error) {
	args, ok := obj.(*configv1.VolumeBindingArgs)
	if !ok || args == nil {
		return nil, fmt.Errorf("want args to be of type VolumeBindingArgs, got %T", obj)
	}
	pl := &VolumeBinding{handle: h, bindTimeout: 600 * time.Second, shape: args.Shape, assumed: map[string]string{}}
	if args.BindTimeoutSeconds != nil {
		if *args.BindTimeoutSeconds < 0 {
			return nil, fmt.Errorf("bindTimeoutSeconds: Invalid value: %d: invalid BindTimeoutSeconds, should not be a negative value", *args.BindTimeoutSeconds)
		}
		pl.bindTimeout = time.Duration(*args.BindTimeoutSeconds) * time.Second
	}
	if f := h.SharedInformerFactory(); f != nil {
		if h.Served("v1/persistentvolumeclaims") {
			pl.pvcLister = f.Core().V1().PersistentVolumeClaims().Lister()
		}
		if h.Served("v1/persistentvolumes") {
			pl.pvLister = f.Core().V1().PersistentVolumes().Lister()
		}
		if h.Served("storage.k8s.io/v1/storageclasses") {
			pl.classLister = f.Storage().V1().StorageClasses().Lister()
		}
	}
	return pl, nil
}

func (pl *VolumeBinding) Name() string { return Name }

func (pl *VolumeBinding) EventsToRegister(context.Context) ([]framework.ClusterEventWithHint, error) {
	return []framework.ClusterEventWithHint{
		{Event: framework.ClusterEvent{Resource: framework.StorageClass, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolumeClaim, ActionType: framework.Add | framework.Update}, QueueingHintFn: isSchedulableAfterPVCChange},
		{Event: framework.ClusterEvent{Resource: framework.PersistentVolume, ActionType: framework.Add | framework.Update}},
		{Event: framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add | framework.UpdateNodeLabel}},
		{Event: framework.ClusterEvent{Resource: framework.CSINode, ActionType: framework.Add | framework.Update}},
	}, nil
}

func isSchedulableAfterPVCChange(_ klog.Logger, pod *v1.Pod, oldObj, newObj any) (framework.QueueingHint, error) {
	_, pvc, err := framework.As[*v1.PersistentVolumeClaim](oldObj, newObj)
	if err != nil {
		return framework.Queue, err
	}
	if pvc.Namespace != pod.Namespace {
		return framework.QueueSkip, nil
	}
	for i := range pod.Spec.Volumes {
		if claimName(pod, &pod.Spec.Volumes[i]) == pvc.Name {
			return framework.Queue, nil
		}
	}
	return framework.QueueSkip, nil
}

func claimName(pod *v1.Pod, vol *v1.Volume) string {
	switch {
	case vol.PersistentVolumeClaim != nil:
		return vol.PersistentVolumeClaim.ClaimName
	case vol.Ephemeral != nil:
		return ephemeral.VolumeClaimName(pod, vol)
	}
	return ""
}

type binding struct {
	pv  *v1.PersistentVolume
	pvc *v1.PersistentVolumeClaim
}

type podVolumes struct {
	staticBindings    []binding
	dynamicProvisions []*v1.PersistentVolumeClaim
}

type stateData struct {
	sync.Mutex
	boundClaims         []*v1.PersistentVolumeClaim
	unboundDelayBinding []*v1.PersistentVolumeClaim
	podVolumesByNode    map[string]*podVolumes
	allBound            bool
	hasStaticBindings   bool
}

func (d *stateData) Clone() framework.StateData { return d }

func getStateData(state *framework.CycleState) (*stateData, error) {
	c, err := state.Read(stateKey)
	if err != nil {
		return nil, err
	}
	s, ok := c.(*stateData)
	if !ok {
		return nil, errors.New("unable to convert state into stateData")
	}
	return s, nil
}

// PreFilter sorts the pod's claims into bound, delay-binding and
// immediate-unbound ones; the latter make the pod wait for the PV
// controller.
func (pl *VolumeBinding) PreFilter(_ context.Context, state *framework.CycleState, pod *v1.Pod, _ []*framework.NodeInfo) (*framework.PreFilterResult, *framework.Status) {
	hasPVC := false
	s := &stateData{podVolumesByNode: map[string]*podVolumes{}}
	var immediate []*v1.PersistentVolumeClaim
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		name := claimName(pod, vol)
		if name == "" {
			continue
		}
		hasPVC = true
		pvc, err := pl.getPVC(pod.Namespace, name)
		if err != nil {
			if vol.Ephemeral != nil && apierrors.IsNotFound(err) {
				err = fmt.Errorf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name)
			}
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
		}
		if pvc.Status.Phase == v1.ClaimLost {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", pvc.Name, pvc.Spec.VolumeName))
		}
		if pvc.DeletionTimestamp != nil {
			return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", pvc.Name))
		}
		if vol.Ephemeral != nil {
			if err := ephemeral.VolumeIsForPod(pod, pvc); err != nil {
				return nil, framework.NewStatus(framework.UnschedulableAndUnresolvable, err.Error())
			}
		}
		if pvc.Spec.VolumeName != "" && metav1.HasAnnotation(pvc.ObjectMeta, volume.AnnBindCompleted) {
			s.boundClaims = append(s.boundClaims, pvc)
			continue
		}
		delay := false
		if pl.classLister != nil {
			if delay, err = volume.IsDelayBindingMode(pvc, pl.classLister); err != nil {
				return nil, framework.AsStatus(err)
			}
		}
		if delay && pvc.Spec.VolumeName == "" {
			s.unboundDelayBinding = append(s.unboundDelayBinding, pvc)
		} else {
			immediate = append(immediate, pvc)
		}
	}
	if !hasPVC {
		state.Write(stateKey, &stateData{allBound: true})
		return nil, framework.NewStatus(framework.Skip)
	}
	if len(immediate) > 0 {
		st := framework.NewStatus(framework.UnschedulableAndUnresolvable)
		st.AppendReason("pod has unbound immediate PersistentVolumeClaims")
		return nil, st
	}
	state.Write(stateKey, s)
	return nil, nil
}

func (pl *VolumeBinding) getPVC(ns, name string) (*v1.PersistentVolumeClaim, error) {
	if pl.pvcLister == nil {
		return nil, apierrors.NewNotFound(v1.Resource("persistentvolumeclaim"), name)
	}
	return pl.pvcLister.PersistentVolumeClaims(ns).Get(name)
}

func (pl *VolumeBinding) PreFilterExtensions() framework.PreFilterExtensions { return nil }

// Filter checks the bound claims' volumes against the node and finds
// volumes or provisioning for the delay-binding claims.
func (pl *VolumeBinding) Filter(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) *framework.Status {
	s, err := getStateData(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	node := nodeInfo.Node()
	pv, reasons, err := pl.findPodVolumes(klog.FromContext(ctx), s, node)
	if err != nil {
		return framework.AsStatus(err)
	}
	if len(reasons) > 0 {
		st := framework.NewStatus(framework.UnschedulableAndUnresolvable)
		for _, r := range reasons {
			st.AppendReason(r)
		}
		return st
	}
	s.Lock()
	s.podVolumesByNode[node.Name] = pv
	s.hasStaticBindings = s.hasStaticBindings || len(pv.staticBindings) > 0
	s.Unlock()
	return nil
}

func (pl *VolumeBinding) findPodVolumes(logger klog.Logger, s *stateData, node *v1.Node) (*podVolumes, []string, error) {
	out := &podVolumes{}
	var reasons []string
	for _, pvc := range s.boundClaims {
		if pl.pvLister == nil {
			reasons = append(reasons, ErrReasonPVNotExist)
			break
		}
		pv, err := pl.pvLister.Get(pvc.Spec.VolumeName)
		if err != nil {
			if apierrors.IsNotFound(err) {
				reasons = append(reasons, ErrReasonPVNotExist)
				break
			}
			return nil, nil, err
		}
		if err := volume.CheckNodeAffinity(pv, node.Labels); err != nil {
			logger.V(5).Info("PersistentVolume and node mismatch for pod", "PV", pv.Name, "node", klog.KObj(node), "err", err)
			reasons = append(reasons, ErrReasonNodeConflict)
			break
		}
	}
	if len(reasons) > 0 || len(s.unboundDelayBinding) == 0 {
		return out, reasons, nil
	}
	var toMatch, toProvision []*v1.PersistentVolumeClaim
	for _, pvc := range s.unboundDelayBinding {
		if selected, ok := pvc.Annotations[volume.AnnSelectedNode]; ok {
			if selected != node.Name {
				return out, []string{ErrReasonBindConflict}, nil
			}
			toProvision = append(toProvision, pvc)
		} else {
			toMatch = append(toMatch, pvc)
		}
	}
	satisfied := true
	if len(toMatch) > 0 {
		// Smallest claims first get the smallest fitting volumes.
		sort.SliceStable(toMatch, func(i, j int) bool {
			qi, qj := toMatch[i].Spec.Resources.Requests[v1.ResourceStorage], toMatch[j].Spec.Resources.Requests[v1.ResourceStorage]
			return qi.Cmp(qj) < 0
		})
		chosen := pl.assumedVolumes()
		for _, pvc := range toMatch {
			pvs, err := pl.pvsOfClass(volume.GetPersistentVolumeClaimClass(pvc))
			if err != nil {
				return nil, nil, err
			}
			pv, err := volume.FindMatchingVolume(pvc, pvs, node, chosen, true, true)
			if err != nil {
				return nil, nil, err
			}
			if pv == nil {
				toProvision = append(toProvision, pvc)
				satisfied = false
				continue
			}
			chosen[pv.Name] = pv
			out.staticBindings = append(out.staticBindings, binding{pv: pv, pvc: pvc})
		}
	}
	if len(toProvision) > 0 {
		ok, err := pl.checkVolumeProvisions(toProvision, node)
		if err != nil {
			return nil, nil, err
		}
		satisfied = ok
		if ok {
			out.dynamicProvisions = toProvision
		}
	}
	if !satisfied {
		reasons = append(reasons, ErrReasonBindConflict)
	}
	return out, reasons, nil
}

func (pl *VolumeBinding) assumedVolumes() map[string]*v1.PersistentVolume {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	out := make(map[string]*v1.PersistentVolume, len(pl.assumed))
	for name := range pl.assumed {
		out[name] = &v1.PersistentVolume{}
	}
	return out
}

func (pl *VolumeBinding) pvsOfClass(class string) ([]*v1.PersistentVolume, error) {
	if pl.pvLister == nil {
		return nil, nil
	}
	all, err := pl.pvLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*v1.PersistentVolume
	for _, pv := range all {
		if volume.GetPersistentVolumeClass(pv) == class {
			out = append(out, pv)
		}
	}
	return out, nil
}

// checkVolumeProvisions reports whether every claim can be provisioned on
// node: its class has a provisioner and allows the node's topology.
func (pl *VolumeBinding) checkVolumeProvisions(claims []*v1.PersistentVolumeClaim, node *v1.Node) (bool, error) {
	for _, pvc := range claims {
		className := volume.GetPersistentVolumeClaimClass(pvc)
		if className == "" {
			return false, fmt.Errorf("no class for claim %q", pvc.Namespace+"/"+pvc.Name)
		}
		if pl.classLister == nil {
			return false, fmt.Errorf("failed to find storage class %q", className)
		}
		class, err := pl.classLister.Get(className)
		if err != nil {
			return false, fmt.Errorf("failed to find storage class %q", className)
		}
		if class.Provisioner == "" || class.Provisioner == volume.NotSupportedProvisioner {
			return false, nil
		}
		if !v1helper.MatchTopologySelectorTerms(class.AllowedTopologies, labels.Set(node.Labels)) {
			return false, nil
		}
	}
	return true, nil
}

// PreScore skips scoring unless some node got static bindings.
func (pl *VolumeBinding) PreScore(_ context.Context, state *framework.CycleState, _ *v1.Pod, _ []*framework.NodeInfo) *framework.Status {
	if len(pl.shape) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	s, err := getStateData(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.hasStaticBindings {
		return nil
	}
	return framework.NewStatus(framework.Skip)
}

// Score scores a node by the utilization its static bindings would give
// the chosen volumes, through the configured shape.
func (pl *VolumeBinding) Score(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	s, err := getStateData(state)
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	pv, ok := s.podVolumesByNode[nodeInfo.Node().Name]
	if !ok || len(pv.staticBindings) == 0 {
		return 0, nil
	}
	type usage struct{ requested, capacity int64 }
	byClass := map[string]*usage{}
	for _, b := range pv.staticBindings {
		class := volume.GetPersistentVolumeClaimClass(b.pvc)
		u := byClass[class]
		if u == nil {
			u = &usage{}
			byClass[class] = u
		}
		req := b.pvc.Spec.Resources.Requests[v1.ResourceStorage]
		capacity := b.pv.Spec.Capacity[v1.ResourceStorage]
		u.requested += req.Value()
		u.capacity += capacity.Value()
	}
	var total, n int64
	for _, u := range byClass {
		if u.capacity == 0 {
			continue
		}
		total += shapeScore(pl.shape, u.requested*100/u.capacity)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	return total / n, nil
}

func shapeScore(shape []configv1.UtilizationShapePoint, utilization int64) int64 {
	scale := framework.MaxNodeScore / 10
	for i := range shape {
		if utilization <= int64(shape[i].Utilization) {
			if i == 0 {
				return int64(shape[0].Score) * scale
			}
			prev := shape[i-1]
			s := int64(prev.Score) + int64(shape[i].Score-prev.Score)*(utilization-int64(prev.Utilization))/int64(shape[i].Utilization-prev.Utilization)
			return s * scale
		}
	}
	return int64(shape[len(shape)-1].Score) * scale
}

func (pl *VolumeBinding) ScoreExtensions() framework.ScoreExtensions { return nil }

// Reserve keeps the chosen volumes from other pods.
func (pl *VolumeBinding) Reserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeName string) *framework.Status {
	s, err := getStateData(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	pv, ok := s.podVolumesByNode[nodeName]
	if !ok || (len(pv.staticBindings) == 0 && len(pv.dynamicProvisions) == 0) {
		s.allBound = true
		return nil
	}
	pl.mu.Lock()
	for _, b := range pv.staticBindings {
		pl.assumed[b.pv.Name] = b.pvc.Namespace + "/" + b.pvc.Name
	}
	pl.mu.Unlock()
	return nil
}

// Unreserve releases the chosen volumes.
func (pl *VolumeBinding) Unreserve(_ context.Context, state *framework.CycleState, _ *v1.Pod, nodeName string) {
	s, err := getStateData(state)
	if err != nil {
		return
	}
	pl.release(s, nodeName)
}

func (pl *VolumeBinding) release(s *stateData, nodeName string) {
	pv, ok := s.podVolumesByNode[nodeName]
	if !ok {
		return
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, b := range pv.staticBindings {
		delete(pl.assumed, b.pv.Name)
	}
}

// PreBind binds the chosen volumes, marks the claims to provision with the
// selected node, and waits until the PV controller bound every claim.
func (pl *VolumeBinding) PreBind(ctx context.Context, state *framework.CycleState, pod *v1.Pod, nodeName string) *framework.Status {
	s, err := getStateData(state)
	if err != nil {
		return framework.AsStatus(err)
	}
	if s.allBound {
		return nil
	}
	pv, ok := s.podVolumesByNode[nodeName]
	if !ok {
		return framework.AsStatus(fmt.Errorf("no pod volume found for node %q", nodeName))
	}
	defer pl.release(s, nodeName)
	client := pl.handle.ClientSet()
	for _, b := range pv.staticBindings {
		bound, dirty, err := volume.GetBindVolumeToClaim(b.pv, b.pvc)
		if err != nil {
			return framework.AsStatus(err)
		}
		if dirty {
			if _, err := client.CoreV1().PersistentVolumes().Update(ctx, bound, metav1.UpdateOptions{}); err != nil {
				return framework.AsStatus(fmt.Errorf("binding volume %s to claim %s/%s: %w", b.pv.Name, b.pvc.Namespace, b.pvc.Name, err))
			}
		}
	}
	for _, pvc := range pv.dynamicProvisions {
		if pvc.Annotations[volume.AnnSelectedNode] == nodeName {
			continue
		}
		c := pvc.DeepCopy()
		metav1.SetMetaDataAnnotation(&c.ObjectMeta, volume.AnnSelectedNode, nodeName)
		if _, err := client.CoreV1().PersistentVolumeClaims(c.Namespace).Update(ctx, c, metav1.UpdateOptions{}); err != nil {
			return framework.AsStatus(fmt.Errorf("selecting node for claim %s/%s: %w", c.Namespace, c.Name, err))
		}
	}
	claims := make([]*v1.PersistentVolumeClaim, 0, len(pv.staticBindings)+len(pv.dynamicProvisions))
	for _, b := range pv.staticBindings {
		claims = append(claims, b.pvc)
	}
	claims = append(claims, pv.dynamicProvisions...)
	err = wait.PollUntilContextTimeout(ctx, time.Second, pl.bindTimeout, true, func(ctx context.Context) (bool, error) {
		for _, c := range claims {
			cur, err := client.CoreV1().PersistentVolumeClaims(c.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Errorf("failed to check binding: %w", err)
			}
			if cur.Spec.VolumeName == "" || !metav1.HasAnnotation(cur.ObjectMeta, volume.AnnBindCompleted) {
				if _, dyn := cur.Annotations[volume.AnnSelectedNode]; !dyn && isProvisioned(pv, c) {
					return false, fmt.Errorf("provisioning failed for PVC %q", c.Name)
				}
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return framework.AsStatus(fmt.Errorf("binding volumes: %w", err))
	}
	return nil
}

func isProvisioned(pv *podVolumes, c *v1.PersistentVolumeClaim) bool {
	for _, p := range pv.dynamicProvisions {
		if p.Namespace == c.Namespace && p.Name == c.Name {
			return true
		}
	}
	return false
}
