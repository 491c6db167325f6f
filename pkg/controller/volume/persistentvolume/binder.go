// Package persistentvolume is the persistent-volume binder, as upstream's
// PersistentVolumeController: it binds claims to the smallest matching
// available volume (storage class, capacity, access modes, volume mode,
// selector), completes bindings users or the scheduler started (pre-bound
// volumes or claims), provisions volumes for claims of a storage class
// (in process for the provisioners it is given, such as local-path;
// otherwise by annotating the claim for an external provisioner), waits
// for a first consumer (the scheduler's volume.kubernetes.io/selected-node
// annotation) under WaitForFirstConsumer, marks claims Lost when their
// volume goes, and reclaims released volumes: Retain keeps them, Delete
// deletes what the provisioner created and the PersistentVolume, Recycle
// is not supported.
package persistentvolume

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	storagehelpers "k8s.io/component-helpers/storage/volume"

	"github.com/skiff-project/skiff/pkg/controller"
)

// DefaultSyncPeriod is upstream's --pvclaimbinder-sync-period.
const DefaultSyncPeriod = 15 * time.Second

// Event reasons (upstream's).
const (
	reasonFailedBinding          = "FailedBinding"
	reasonVolumeMismatch         = "VolumeMismatch"
	reasonWaitForFirstConsumer   = "WaitForFirstConsumer"
	reasonWaitForPodScheduled    = "WaitForPodScheduled"
	reasonExternalProvisioning   = "ExternalProvisioning"
	reasonProvisioningFailed     = "ProvisioningFailed"
	reasonProvisioningSucceeded  = "ProvisioningSucceeded"
	reasonProvisioningCleanup    = "ProvisioningCleanupFailed"
	reasonVolumeFailedDelete     = "VolumeFailedDelete"
	reasonVolumeFailedRecycle    = "VolumeFailedRecycle"
	reasonVolumeUnknownReclaim   = "VolumeUnknownReclaimPolicy"
	reasonClaimLost              = "ClaimLost"
	reasonClaimMisbound          = "ClaimMisbound"
	annDefaultStorageClass       = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultStorageClass   = "storageclass.beta.kubernetes.io/is-default-class"
	provisionedVolumeNamePrefix  = "pvc-"
	createProvisionedPVRetries   = 5
	createProvisionedPVRetryWait = 10 * time.Second
)

// Provisioner creates and deletes volumes for a StorageClass provisioner
// name, in process.
type Provisioner interface {
	// Name is the StorageClass provisioner it serves.
	Name() string
	// Provision returns the PersistentVolume (without claim reference) for
	// claim, named pvName, on node when the claim waited for a consumer.
	Provision(ctx context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node, pvName string) (*corev1.PersistentVolume, error)
	// Delete removes what Provision created for pv.
	Delete(ctx context.Context, pv *corev1.PersistentVolume) error
}

// Controller is the binder. Its queues hold volume names and claim keys.
type Controller struct {
	client      kubernetes.Interface
	recorder    record.EventRecorder
	startEvents func(context.Context)

	pvLister    corelisters.PersistentVolumeLister
	pvcLister   corelisters.PersistentVolumeClaimLister
	classLister storagelisters.StorageClassLister
	nodeLister  corelisters.NodeLister
	podLister   corelisters.PodLister
	synced      []cache.InformerSynced

	volumeQueue workqueue.TypedRateLimitingInterface[string]
	claimQueue  workqueue.TypedRateLimitingInterface[string]

	provisioners map[string]Provisioner
	syncPeriod   time.Duration
	now          func() time.Time
}

// NewController returns the binder with the given in-process provisioners.
func NewController(client kubernetes.Interface, pvInformer coreinformers.PersistentVolumeInformer, pvcInformer coreinformers.PersistentVolumeClaimInformer,
	classInformer storageinformers.StorageClassInformer, nodeInformer coreinformers.NodeInformer, podInformer coreinformers.PodInformer,
	syncPeriod time.Duration, provisioners ...Provisioner) (*Controller, error) {
	recorder, start := controller.NewEventRecorder(client, "persistentvolume-controller")
	c := &Controller{
		client:       client,
		recorder:     recorder,
		startEvents:  start,
		pvLister:     pvInformer.Lister(),
		pvcLister:    pvcInformer.Lister(),
		classLister:  classInformer.Lister(),
		nodeLister:   nodeInformer.Lister(),
		podLister:    podInformer.Lister(),
		synced:       []cache.InformerSynced{pvInformer.Informer().HasSynced, pvcInformer.Informer().HasSynced, classInformer.Informer().HasSynced, nodeInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		volumeQueue:  controller.NewQueue("volumes"),
		claimQueue:   controller.NewQueue("claims"),
		provisioners: map[string]Provisioner{},
		syncPeriod:   syncPeriod,
		now:          time.Now,
	}
	for _, p := range provisioners {
		c.provisioners[p.Name()] = p
	}
	if _, err := pvInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.volumeChanged,
		UpdateFunc: func(_, cur interface{}) { c.volumeChanged(cur) },
		DeleteFunc: func(obj interface{}) {
			pv, ok := controller.ObjectFromTombstone(obj).(*corev1.PersistentVolume)
			if !ok {
				return
			}
			// Its claim is now lost.
			if pv.Spec.ClaimRef != nil {
				c.claimQueue.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volumes: %w", err)
	}
	if _, err := pvcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueClaim,
		UpdateFunc: func(_, cur interface{}) { c.enqueueClaim(cur) },
		DeleteFunc: func(obj interface{}) {
			pvc, ok := controller.ObjectFromTombstone(obj).(*corev1.PersistentVolumeClaim)
			if !ok {
				return
			}
			// Its volume is now released.
			if pvc.Spec.VolumeName != "" {
				c.volumeQueue.Add(pvc.Spec.VolumeName)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch persistent volume claims: %w", err)
	}
	return c, nil
}

// Run binds until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	c.startEvents(ctx)
	defer c.volumeQueue.ShutDown()
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			for controller.ProcessNext(ctx, c.volumeQueue, c.syncVolumeKey) {
			}
		}, time.Second)
	}()
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
			return
		}
		wait.UntilWithContext(ctx, c.resync, c.syncPeriod)
	}()
	controller.RunWorkers(ctx, "persistentvolume-binder", c.claimQueue, 1, c.syncClaimKey, c.synced...)
}

// resync brings every volume and claim back periodically: claims waiting
// for a volume are retried, as upstream does every sync period.
func (c *Controller) resync(context.Context) {
	pvs, _ := c.pvLister.List(labels.Everything())
	for _, pv := range pvs {
		c.volumeQueue.Add(pv.Name)
	}
	pvcs, _ := c.pvcLister.List(labels.Everything())
	for _, pvc := range pvcs {
		c.enqueueClaim(pvc)
	}
}

func (c *Controller) enqueueClaim(obj interface{}) {
	if key, err := controller.KeyFunc(obj); err == nil {
		c.claimQueue.Add(key)
	}
}

// volumeChanged queues the volume, and the claim it names; a volume that
// became available may be what pending claims wait for.
func (c *Controller) volumeChanged(obj interface{}) {
	pv, ok := obj.(*corev1.PersistentVolume)
	if !ok {
		return
	}
	c.volumeQueue.Add(pv.Name)
	if pv.Spec.ClaimRef != nil {
		c.claimQueue.Add(pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name)
		return
	}
	pvcs, _ := c.pvcLister.List(labels.Everything())
	for _, pvc := range pvcs {
		if pvc.Spec.VolumeName == "" && pvc.Status.Phase == corev1.ClaimPending {
			c.enqueueClaim(pvc)
		}
	}
}

func (c *Controller) syncClaimKey(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return err
	}
	claim, err := c.pvcLister.PersistentVolumeClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBindCompleted) {
		return c.syncUnboundClaim(ctx, claim)
	}
	return c.syncBoundClaim(ctx, claim)
}

func (c *Controller) syncVolumeKey(ctx context.Context, name string) error {
	pv, err := c.pvLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.syncVolume(ctx, pv)
}

// syncUnboundClaim binds a claim that has not completed binding.
func (c *Controller) syncUnboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName != "" {
		return c.syncPreboundClaim(ctx, claim)
	}
	delayBinding, err := storagehelpers.IsDelayBindingMode(claim, c.classLister)
	if err != nil {
		return err
	}
	// The scheduler picked a node for a claim waiting for its consumer:
	// volumes are matched against that node (the scheduler may also have
	// bound one itself, which FindMatchingVolume finds as pre-bound).
	var node *corev1.Node
	if delayBinding && storagehelpers.IsDelayBindingProvisioning(claim) {
		node, _ = c.nodeLister.Get(claim.Annotations[storagehelpers.AnnSelectedNode])
	}
	volume, err := c.findBestMatch(claim, node, delayBinding)
	if err != nil {
		return fmt.Errorf("error finding PV for claim %q: %w", claimKey(claim), err)
	}
	if volume != nil {
		return c.bind(ctx, volume, claim)
	}
	if updated, err := c.assignDefaultStorageClass(ctx, claim); err != nil || updated {
		return err
	}
	switch {
	case delayBinding && !storagehelpers.IsDelayBindingProvisioning(claim):
		c.waitingForConsumerEvent(claim)
	case storagehelpers.GetPersistentVolumeClaimClass(claim) != "":
		return c.provision(ctx, claim)
	default:
		c.recorder.Event(claim, corev1.EventTypeNormal, reasonFailedBinding, "no persistent volumes available for this claim and no storage class is set")
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
	return err
}

// syncPreboundClaim completes a claim that names its volume.
func (c *Controller) syncPreboundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	volume, err := c.pvLister.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		// The user asked for a volume that does not exist (yet).
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	if err != nil {
		return err
	}
	switch {
	case volume.Spec.ClaimRef == nil:
		if err := checkVolumeSatisfiesClaim(volume, claim); err != nil {
			c.recorder.Event(claim, corev1.EventTypeWarning, reasonVolumeMismatch, fmt.Sprintf("Cannot bind to requested volume %q: %s", volume.Name, err))
			_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
			return err
		}
		return c.bind(ctx, volume, claim)
	case storagehelpers.IsVolumeBoundToClaim(volume, claim):
		return c.bind(ctx, volume, claim)
	}
	c.recorder.Event(claim, corev1.EventTypeWarning, reasonFailedBinding, fmt.Sprintf("volume %q already bound to a different claim.", volume.Name))
	if !metav1.HasAnnotation(claim.ObjectMeta, storagehelpers.AnnBoundByController) {
		_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimPending, nil)
		return err
	}
	return fmt.Errorf("invalid binding of claim %q to volume %q: volume already claimed by %q", claimKey(claim), claim.Spec.VolumeName,
		volume.Spec.ClaimRef.Namespace+"/"+volume.Spec.ClaimRef.Name)
}

// syncBoundClaim keeps a bound claim bound, or marks it Lost.
func (c *Controller) syncBoundClaim(ctx context.Context, claim *corev1.PersistentVolumeClaim) error {
	if claim.Spec.VolumeName == "" {
		_, err := c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost reference to PersistentVolume. Data on the volume is lost!")
		return err
	}
	volume, err := c.pvLister.Get(claim.Spec.VolumeName)
	if apierrors.IsNotFound(err) {
		_, err = c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, reasonClaimLost,
			"Bound claim has lost its PersistentVolume. Data on the volume is lost!")
		return err
	}
	if err != nil {
		return err
	}
	if volume.Spec.ClaimRef == nil || volume.Spec.ClaimRef.UID == claim.UID {
		return c.bind(ctx, volume, claim)
	}
	_, err = c.updateClaimStatusWithEvent(ctx, claim, corev1.ClaimLost, nil, corev1.EventTypeWarning, reasonClaimMisbound,
		"Two claims are bound to the same volume, this one is bound incorrectly")
	return err
}

// findBestMatch is the smallest volume satisfying the claim, trying the
// volumes with the fewest access modes that still cover the claim's first
// (upstream's access-mode index order).
func (c *Controller) findBestMatch(claim *corev1.PersistentVolumeClaim, node *corev1.Node, delayBinding bool) (*corev1.PersistentVolume, error) {
	all, err := c.pvLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	groups := map[string][]*corev1.PersistentVolume{}
	var keys []string
	for _, pv := range all {
		if !storagehelpers.CheckAccessModes(claim, pv) {
			continue
		}
		modes := make([]string, 0, len(pv.Spec.AccessModes))
		for _, m := range pv.Spec.AccessModes {
			modes = append(modes, string(m))
		}
		sort.Strings(modes)
		key := fmt.Sprint(modes)
		if _, ok := groups[key]; !ok {
			keys = append(keys, key)
		}
		groups[key] = append(groups[key], pv)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		return len(groups[keys[i]][0].Spec.AccessModes) < len(groups[keys[j]][0].Spec.AccessModes)
	})
	for _, k := range keys {
		pv, err := storagehelpers.FindMatchingVolume(claim, groups[k], node, nil, delayBinding, true)
		if err != nil || pv != nil {
			return pv, err
		}
	}
	return nil, nil
}

// checkVolumeSatisfiesClaim reports why a volume a claim asks for by name
// does not fit it.
func checkVolumeSatisfiesClaim(volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	requested := claim.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := volume.Spec.Capacity[corev1.ResourceStorage]
	if capacity.Cmp(requested) < 0 {
		return fmt.Errorf("requested PV is too small")
	}
	if storagehelpers.GetPersistentVolumeClass(volume) != storagehelpers.GetPersistentVolumeClaimClass(claim) {
		return fmt.Errorf("storageClassName does not match")
	}
	if storagehelpers.CheckVolumeModeMismatches(&claim.Spec, &volume.Spec) {
		return fmt.Errorf("incompatible volumeMode")
	}
	if !storagehelpers.CheckAccessModes(claim, volume) {
		return fmt.Errorf("incompatible accessMode")
	}
	return nil
}

// assignDefaultStorageClass gives a claim without storageClassName (nil,
// not "") the default class, retroactively, as upstream.
func (c *Controller) assignDefaultStorageClass(ctx context.Context, claim *corev1.PersistentVolumeClaim) (bool, error) {
	if claim.Spec.StorageClassName != nil {
		return false, nil
	}
	if _, ok := claim.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		return false, nil
	}
	class, err := c.defaultClass()
	if err != nil || class == nil {
		return false, err
	}
	updated := claim.DeepCopy()
	updated.Spec.StorageClassName = &class.Name
	if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("can't update PersistentVolumeClaim[%q]: %w", claimKey(claim), err)
	}
	return true, nil
}

// defaultClass is the newest StorageClass annotated default (the tie
// rule of upstream's DefaultStorageClass admission).
func (c *Controller) defaultClass() (*storagev1.StorageClass, error) {
	classes, err := c.classLister.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var best *storagev1.StorageClass
	for _, sc := range classes {
		if sc.Annotations[annDefaultStorageClass] != "true" && sc.Annotations[annBetaDefaultStorageClass] != "true" {
			continue
		}
		if best == nil || sc.CreationTimestamp.After(best.CreationTimestamp.Time) ||
			(sc.CreationTimestamp.Equal(&best.CreationTimestamp) && sc.Name < best.Name) {
			best = sc
		}
	}
	return best, nil
}

// waitingForConsumerEvent says what a WaitForFirstConsumer claim waits for.
func (c *Controller) waitingForConsumerEvent(claim *corev1.PersistentVolumeClaim) {
	reason, message := reasonWaitForFirstConsumer, "waiting for first consumer to be created before binding"
	var names []string
	pods, _ := c.podLister.Pods(claim.Namespace).List(labels.Everything())
	for _, pod := range pods {
		if pod.Spec.NodeName != "" {
			continue
		}
		for _, v := range pod.Spec.Volumes {
			if claimNameOf(pod, v) == claim.Name {
				names = append(names, pod.Name)
				break
			}
		}
	}
	switch len(names) {
	case 0:
	case 1:
		reason, message = reasonWaitForPodScheduled, fmt.Sprintf("waiting for pod %s to be scheduled", names[0])
	default:
		sort.Strings(names)
		reason, message = reasonWaitForPodScheduled, fmt.Sprintf("waiting for pods %s to be scheduled", joinNames(names))
	}
	c.recorder.Event(claim, corev1.EventTypeNormal, reason, message)
}

func joinNames(names []string) string {
	out := names[0]
	for _, n := range names[1:] {
		out += "," + n
	}
	return out
}

// claimNameOf is the claim a pod volume uses: its persistentVolumeClaim,
// or the claim of a generic ephemeral volume.
func claimNameOf(pod *corev1.Pod, v corev1.Volume) string {
	switch {
	case v.PersistentVolumeClaim != nil:
		return v.PersistentVolumeClaim.ClaimName
	case v.Ephemeral != nil:
		return pod.Name + "-" + v.Name
	}
	return ""
}

// bind completes a binding in upstream's order: the volume's claimRef, the
// volume's phase, the claim's volumeName and annotations, the claim's
// status.
func (c *Controller) bind(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) error {
	volume, err := c.bindVolumeToClaim(ctx, volume, claim)
	if err != nil {
		return fmt.Errorf("bind volume %s to claim %s: %w", volume.Name, claimKey(claim), err)
	}
	if volume, err = c.updateVolumePhase(ctx, volume, corev1.VolumeBound, ""); err != nil {
		return err
	}
	if claim, err = c.bindClaimToVolume(ctx, claim, volume); err != nil {
		return fmt.Errorf("bind claim %s to volume %s: %w", claimKey(claim), volume.Name, err)
	}
	_, err = c.updateClaimStatus(ctx, claim, corev1.ClaimBound, volume)
	return err
}

func (c *Controller) bindVolumeToClaim(ctx context.Context, volume *corev1.PersistentVolume, claim *corev1.PersistentVolumeClaim) (*corev1.PersistentVolume, error) {
	updated, dirty, err := storagehelpers.GetBindVolumeToClaim(volume, claim)
	if err != nil || !dirty {
		return volume, err
	}
	return c.client.CoreV1().PersistentVolumes().Update(ctx, updated, metav1.UpdateOptions{})
}

func (c *Controller) bindClaimToVolume(ctx context.Context, claim *corev1.PersistentVolumeClaim, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	updated := claim.DeepCopy()
	dirty := false
	if claim.Spec.VolumeName != volume.Name {
		updated.Spec.VolumeName = volume.Name
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, storagehelpers.AnnBoundByController, "yes")
		dirty = true
	}
	if !metav1.HasAnnotation(updated.ObjectMeta, storagehelpers.AnnBindCompleted) {
		metav1.SetMetaDataAnnotation(&updated.ObjectMeta, storagehelpers.AnnBindCompleted, "yes")
		dirty = true
	}
	if !dirty {
		return claim, nil
	}
	return c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
}

// updateClaimStatus sets the claim's phase, and its capacity and access
// modes from the volume (cleared without one).
func (c *Controller) updateClaimStatus(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume) (*corev1.PersistentVolumeClaim, error) {
	updated := claim.DeepCopy()
	dirty := claim.Status.Phase != phase
	updated.Status.Phase = phase
	if volume == nil {
		if updated.Status.AccessModes != nil || updated.Status.Capacity != nil {
			updated.Status.AccessModes, updated.Status.Capacity = nil, nil
			dirty = true
		}
	} else {
		if !slices.Equal(updated.Status.AccessModes, volume.Spec.AccessModes) {
			updated.Status.AccessModes = volume.Spec.AccessModes
			dirty = true
		}
		if vs, ok := volume.Spec.Capacity[corev1.ResourceStorage]; ok {
			if cs, ok := updated.Status.Capacity[corev1.ResourceStorage]; !ok || cs.Cmp(vs) != 0 {
				updated.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: vs}
				dirty = true
			}
		}
	}
	if !dirty {
		return claim, nil
	}
	return c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{})
}

func (c *Controller) updateClaimStatusWithEvent(ctx context.Context, claim *corev1.PersistentVolumeClaim, phase corev1.PersistentVolumeClaimPhase, volume *corev1.PersistentVolume, eventType, reason, message string) (*corev1.PersistentVolumeClaim, error) {
	if claim.Status.Phase == phase {
		return claim, nil
	}
	updated, err := c.updateClaimStatus(ctx, claim, phase, volume)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}

func (c *Controller) updateVolumePhase(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase && volume.Status.Message == message {
		return volume, nil
	}
	updated := volume.DeepCopy()
	updated.Status.Phase = phase
	updated.Status.Message = message
	return c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
}

func (c *Controller) updateVolumePhaseWithEvent(ctx context.Context, volume *corev1.PersistentVolume, phase corev1.PersistentVolumePhase, eventType, reason, message string) (*corev1.PersistentVolume, error) {
	if volume.Status.Phase == phase {
		return volume, nil
	}
	updated, err := c.updateVolumePhase(ctx, volume, phase, message)
	if err != nil {
		return nil, err
	}
	c.recorder.Event(updated, eventType, reason, message)
	return updated, nil
}

func claimKey(claim *corev1.PersistentVolumeClaim) string { return claim.Namespace + "/" + claim.Name }

// logSyncError is for operations whose failure only retries later.
func logSyncError(ctx context.Context, err error, msg string, kv ...interface{}) {
	utilruntime.HandleErrorWithContext(ctx, err, msg, kv...)
}
