// Package resourceclaim is upstream's resourceclaim controller for pods:
//   - a pod claim with resourceClaimTemplateName gets a ResourceClaim made
//     from the template (generateName <pod>-<claim>-, controlled by the pod,
//     annotated resource.kubernetes.io/pod-claim-name), recorded in the
//     pod's status.resourceClaimStatuses;
//   - an allocated claim of a scheduled pod is reserved for it;
//   - reservations of pods that are gone, replaced or done are removed, and
//     a claim generated for a pod that is done (or replaced) is deleted.
//
// PodGroup (workload) claims and the extended-resource claims the scheduler
// makes are not handled: skiff's scheduler has no DynamicResources plugin.
package resourceclaim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	corev1apply "k8s.io/client-go/applyconfigurations/core/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	resourceinformers "k8s.io/client-go/informers/resource/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	resourcelisters "k8s.io/client-go/listers/resource/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/dynamic-resource-allocation/resourceclaim"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/controller"
)

const (
	// fieldManager owns pod.status.resourceClaimStatuses, as upstream.
	fieldManager = "ResourceClaimController"
	// podClaimIndex indexes pods by the "namespace/name" of the claims
	// they use; claimOwnerIndex claims by the "namespace/uid" of the pod
	// controlling them.
	podClaimIndex   = "podResourceClaim"
	claimOwnerIndex = "claimPodOwner"
	// Queue keys are a pod or a claim.
	podKeyPrefix   = "pod:"
	claimKeyPrefix = "claim:"
	// maxGenerateNameBase leaves room for the 5 random characters the API
	// server appends within a 63-character name.
	maxGenerateNameBase = 57
)

// Controller is the resourceclaim controller.
type Controller struct {
	client         kubernetes.Interface
	podLister      corelisters.PodLister
	podIndexer     cache.Indexer
	claimLister    resourcelisters.ResourceClaimLister
	claimIndexer   cache.Indexer
	templateLister resourcelisters.ResourceClaimTemplateLister
	synced         []cache.InformerSynced
	queue          workqueue.TypedRateLimitingInterface[string]
	recorder       record.EventRecorder
	startEvents    func(context.Context)
}

// NewController returns the resourceclaim controller.
func NewController(client kubernetes.Interface, pods coreinformers.PodInformer, claims resourceinformers.ResourceClaimInformer,
	templates resourceinformers.ResourceClaimTemplateInformer) (*Controller, error) {
	recorder, startEvents := controller.NewEventRecorder(client, "resource_claim")
	c := &Controller{
		client:         client,
		podLister:      pods.Lister(),
		podIndexer:     pods.Informer().GetIndexer(),
		claimLister:    claims.Lister(),
		claimIndexer:   claims.Informer().GetIndexer(),
		templateLister: templates.Lister(),
		queue:          controller.NewQueue("resource_claim"),
		recorder:       recorder,
		startEvents:    startEvents,
	}
	if err := pods.Informer().AddIndexers(cache.Indexers{podClaimIndex: podClaimIndexFunc}); err != nil {
		return nil, fmt.Errorf("index pods by claim: %w", err)
	}
	if err := claims.Informer().AddIndexers(cache.Indexers{claimOwnerIndex: claimOwnerIndexFunc}); err != nil {
		return nil, fmt.Errorf("index claims by owner: %w", err)
	}
	podReg, err := pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueuePod(obj, false) },
		UpdateFunc: func(_, cur interface{}) { c.enqueuePod(cur, false) },
		DeleteFunc: func(obj interface{}) { c.enqueuePod(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	claimReg, err := claims.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueueClaim(obj, false) },
		UpdateFunc: func(_, cur interface{}) { c.enqueueClaim(cur, false) },
		DeleteFunc: func(obj interface{}) { c.enqueueClaim(obj, true) },
	})
	if err != nil {
		return nil, fmt.Errorf("watch resource claims: %w", err)
	}
	// A template that appears late lets waiting pods get their claims.
	templateReg, err := templates.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			t, ok := obj.(*resourceapi.ResourceClaimTemplate)
			if !ok {
				return
			}
			pods, _ := c.podLister.Pods(t.Namespace).List(labels.Everything())
			for _, pod := range pods {
				if slices.ContainsFunc(pod.Spec.ResourceClaims, func(pc corev1.PodResourceClaim) bool {
					return ptr.Deref(pc.ResourceClaimTemplateName, "") == t.Name
				}) {
					c.enqueuePod(pod, false)
				}
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("watch resource claim templates: %w", err)
	}
	c.synced = []cache.InformerSynced{podReg.HasSynced, claimReg.HasSynced, templateReg.HasSynced}
	return c, nil
}

// Run handles claims until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	c.startEvents(ctx)
	controller.RunWorkers(ctx, "resourceclaim", c.queue, workers, c.sync, c.synced...)
}

func (c *Controller) enqueuePod(obj interface{}, deleted bool) {
	pod, ok := controller.ObjectFromTombstone(obj).(*corev1.Pod)
	if !ok || len(pod.Spec.ResourceClaims) == 0 {
		return
	}
	if deleted || podDone(pod) {
		// Its claims may lose a reservation, or be deleted.
		for name := range resourceclaim.PodClaims(pod) {
			c.queue.Add(claimKeyPrefix + pod.Namespace + "/" + name)
		}
	}
	if !deleted && pod.DeletionTimestamp == nil {
		c.queue.Add(podKeyPrefix + pod.Namespace + "/" + pod.Name)
	}
}

func (c *Controller) enqueueClaim(obj interface{}, deleted bool) {
	claim, ok := controller.ObjectFromTombstone(obj).(*resourceapi.ResourceClaim)
	if !ok {
		return
	}
	key := claim.Namespace + "/" + claim.Name
	if !deleted {
		c.queue.Add(claimKeyPrefix + key)
	}
	// Pods using it may need it re-created or reserved.
	pods, _ := c.podIndexer.ByIndex(podClaimIndex, key)
	for _, pod := range pods {
		c.enqueuePod(pod, false)
	}
	if name, uid := owningPod(claim); name != "" {
		if pod, err := c.podLister.Pods(claim.Namespace).Get(name); err == nil && pod.UID == uid {
			c.enqueuePod(pod, false)
		}
	}
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch {
	case strings.HasPrefix(key, podKeyPrefix):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, podKeyPrefix))
		if err != nil {
			return nil
		}
		return c.syncPod(ctx, ns, name)
	case strings.HasPrefix(key, claimKeyPrefix):
		ns, name, err := cache.SplitMetaNamespaceKey(strings.TrimPrefix(key, claimKeyPrefix))
		if err != nil {
			return nil
		}
		return c.syncClaim(ctx, ns, name)
	}
	return nil
}

// syncPod creates the pod's missing template claims, records them in its
// status, and reserves allocated claims for it once it is scheduled.
func (c *Controller) syncPod(ctx context.Context, namespace, name string) error {
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil || podDone(pod) {
		return nil
	}
	created := map[string]string{}
	for _, pc := range pod.Spec.ResourceClaims {
		claimName, err := c.ensureClaim(ctx, pod, pc)
		if err != nil {
			c.recorder.Event(pod, corev1.EventTypeWarning, "FailedResourceClaimCreation", fmt.Sprintf("PodResourceClaim %s: %v", pc.Name, err))
			return fmt.Errorf("pod %s/%s, PodResourceClaim %s: %w", namespace, name, pc.Name, err)
		}
		if claimName != "" {
			created[pc.Name] = claimName
		}
	}
	if len(created) > 0 {
		if err := c.recordClaims(ctx, pod, created); err != nil {
			return err
		}
	}
	if pod.Spec.NodeName == "" {
		return nil // the scheduler reserves claims while binding
	}
	for _, pc := range pod.Spec.ResourceClaims {
		claimName, checkOwner, err := resourceclaim.Name(pod, &pc)
		if err != nil || claimName == nil {
			continue
		}
		claim, err := c.claimLister.ResourceClaims(namespace).Get(*claimName)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if checkOwner && resourceclaim.IsForPod(pod, claim, false) != nil {
			continue
		}
		if claim.Status.Allocation != nil && !resourceclaim.IsReservedForPod(pod, claim, false) &&
			resourceclaim.CanBeReserved(claim) && len(claim.Status.ReservedFor) < resourceapi.ResourceClaimReservedForMaxSize {
			claim = claim.DeepCopy()
			claim.Status.ReservedFor = append(claim.Status.ReservedFor, resourceapi.ResourceClaimConsumerReference{
				Resource: "pods", Name: pod.Name, UID: pod.UID})
			if _, err := c.client.ResourceV1().ResourceClaims(namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("reserve claim %s for pod %s: %w", klog.KObj(claim), klog.KObj(pod), err)
			}
		}
	}
	return nil
}

// ensureClaim makes sure a template claim of the pod exists. It returns the
// name of a claim to record in the pod's status ("" when none is new).
func (c *Controller) ensureClaim(ctx context.Context, pod *corev1.Pod, pc corev1.PodResourceClaim) (string, error) {
	name, checkOwner, err := resourceclaim.Name(pod, &pc)
	switch {
	case errors.Is(err, resourceclaim.ErrClaimNotFound):
	case err != nil:
		return "", err
	case name == nil:
		return "", nil // intentionally without a claim
	default:
		claim, err := c.claimLister.ResourceClaims(pod.Namespace).Get(*name)
		if err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		if err == nil && (!checkOwner || resourceclaim.IsForPod(pod, claim, false) == nil) {
			return "", nil
		}
		if err == nil {
			klog.FromContext(ctx).Info("Claim made for the pod is no longer owned by it; making a new one", "pod", klog.KObj(pod), "claim", klog.KObj(claim))
		}
		// Recorded but gone (deleted by someone): make it again.
	}
	if pc.ResourceClaimTemplateName == nil {
		return "", nil // the user creates a claim referenced by name
	}
	// A claim made earlier whose name never reached the pod's status.
	if claim := c.generatedClaim(pod, pc.Name); claim != nil {
		return claim.Name, nil
	}
	template, err := c.templateLister.ResourceClaimTemplates(pod.Namespace).Get(*pc.ResourceClaimTemplateName)
	if err != nil {
		return "", fmt.Errorf("resource claim template %q: %w", *pc.ResourceClaimTemplateName, err)
	}
	annotations := maps.Clone(template.Spec.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[resourceapi.PodResourceClaimAnnotation] = pc.Name
	claim := &resourceapi.ResourceClaim{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: generateName(pod.Name, pc.Name),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true),
			}},
			Annotations: annotations,
			Labels:      maps.Clone(template.Spec.Labels),
		},
		Spec: *template.Spec.Spec.DeepCopy(),
	}
	claim, err = c.client.ResourceV1().ResourceClaims(pod.Namespace).Create(ctx, claim, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("create ResourceClaim from template %s: %w", template.Name, err)
	}
	// The informer may not have it before the next sync of this pod.
	if err := c.claimIndexer.Add(claim); err != nil {
		return "", err
	}
	klog.FromContext(ctx).V(4).Info("Created ResourceClaim", "claim", klog.KObj(claim), "pod", klog.KObj(pod))
	return claim.Name, nil
}

// generatedClaim finds a claim controlled by the pod for its claim podClaim.
func (c *Controller) generatedClaim(pod *corev1.Pod, podClaim string) *resourceapi.ResourceClaim {
	objs, _ := c.claimIndexer.ByIndex(claimOwnerIndex, pod.Namespace+"/"+string(pod.UID))
	for _, obj := range objs {
		if claim, ok := obj.(*resourceapi.ResourceClaim); ok && claim.Annotations[resourceapi.PodResourceClaimAnnotation] == podClaim {
			return claim
		}
	}
	return nil
}

// recordClaims applies the pod's resourceClaimStatuses with the new names.
func (c *Controller) recordClaims(ctx context.Context, pod *corev1.Pod, created map[string]string) error {
	names := map[string]string{}
	for _, s := range pod.Status.ResourceClaimStatuses {
		if s.ResourceClaimName != nil {
			names[s.Name] = *s.ResourceClaimName
		}
	}
	maps.Copy(names, created)
	var statuses []*corev1apply.PodResourceClaimStatusApplyConfiguration
	for _, n := range slices.Sorted(maps.Keys(names)) {
		statuses = append(statuses, corev1apply.PodResourceClaimStatus().WithName(n).WithResourceClaimName(names[n]))
	}
	apply := corev1apply.Pod(pod.Name, pod.Namespace).WithStatus(corev1apply.PodStatus().WithResourceClaimStatuses(statuses...))
	if _, err := c.client.CoreV1().Pods(pod.Namespace).ApplyStatus(ctx, apply, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
		return fmt.Errorf("record resource claims of pod %s: %w", klog.KObj(pod), err)
	}
	return nil
}

// syncClaim drops reservations of pods that will not run; a claim left
// unreserved that the scheduler allocated (it carries the delete-protection
// finalizer) loses its allocation and finalizer; a claim generated for a pod
// that is done is deleted.
func (c *Controller) syncClaim(ctx context.Context, namespace, name string) error {
	claim, err := c.claimLister.ResourceClaims(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	remaining := make([]resourceapi.ResourceClaimConsumerReference, 0, len(claim.Status.ReservedFor))
	for _, r := range claim.Status.ReservedFor {
		if r.APIGroup == "" && r.Resource == "pods" {
			keep, err := c.podMayRun(ctx, namespace, r.Name, r.UID)
			if err != nil {
				return err
			}
			if !keep {
				continue
			}
		}
		remaining = append(remaining, r)
	}
	protected := slices.Contains(claim.Finalizers, resourceapi.Finalizer)
	switch {
	case len(remaining) < len(claim.Status.ReservedFor):
		claim = claim.DeepCopy()
		claim.Status.ReservedFor = remaining
		if len(remaining) == 0 && protected {
			claim.Status.Allocation = nil
		}
		if claim, err = c.client.ResourceV1().ResourceClaims(namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("release claim %s/%s: %w", namespace, name, err)
		}
		if protected && claim.Status.Allocation == nil {
			if err := c.dropFinalizer(ctx, claim); err != nil {
				return err
			}
		}
	case protected && claim.DeletionTimestamp != nil && len(remaining) == 0:
		if claim.Status.Allocation != nil {
			claim = claim.DeepCopy()
			claim.Status.Allocation = nil
			if claim, err = c.client.ResourceV1().ResourceClaims(namespace).UpdateStatus(ctx, claim, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("deallocate claim %s/%s: %w", namespace, name, err)
			}
		}
		if err := c.dropFinalizer(ctx, claim); err != nil {
			return err
		}
	}
	if len(remaining) > 0 || claim.DeletionTimestamp != nil {
		return nil
	}
	podName, podUID := owningPod(claim)
	if podName == "" {
		return nil
	}
	pod, err := c.podLister.Pods(namespace).Get(podName)
	if apierrors.IsNotFound(err) {
		return nil // the garbage collector deletes claims of deleted pods
	}
	if err != nil {
		return err
	}
	if pod.UID != podUID || podDone(pod) {
		err := c.client.ResourceV1().ResourceClaims(namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete unused generated claim %s/%s: %w", namespace, name, err)
		}
		klog.FromContext(ctx).V(4).Info("Deleted unused generated claim", "claim", klog.KRef(namespace, name), "pod", klog.KObj(pod))
	}
	return nil
}

// podMayRun reports whether the pod (name, uid) still exists and may run.
// The cache may lag behind a new pod, so a miss is checked with the API.
func (c *Controller) podMayRun(ctx context.Context, namespace, name string, uid types.UID) (bool, error) {
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		pod, err = c.client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
	}
	if err != nil {
		return false, err
	}
	return pod.UID == uid && !podDone(pod), nil
}

func (c *Controller) dropFinalizer(ctx context.Context, claim *resourceapi.ResourceClaim) error {
	claim = claim.DeepCopy()
	claim.Finalizers = slices.DeleteFunc(claim.Finalizers, func(f string) bool { return f == resourceapi.Finalizer })
	if _, err := c.client.ResourceV1().ResourceClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer of claim %s: %w", klog.KObj(claim), err)
	}
	return nil
}

// podDone: the pod will never run (again).
func podDone(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed ||
		(pod.DeletionTimestamp != nil && pod.Spec.NodeName == "")
}

// owningPod is the pod controlling a claim, if any.
func owningPod(claim *resourceapi.ResourceClaim) (string, types.UID) {
	if ref := metav1.GetControllerOfNoCopy(claim); ref != nil && ref.APIVersion == "v1" && ref.Kind == "Pod" {
		return ref.Name, ref.UID
	}
	return "", ""
}

// generateName is <pod>-<claim>-, both parts shortened in proportion when
// too long, so that neither is lost.
func generateName(pod, claim string) string {
	name := pod + "-" + claim + "-"
	if len(name) <= maxGenerateNameBase {
		return name
	}
	return pod[:len(pod)*maxGenerateNameBase/len(name)] + "-" + claim[:len(claim)*maxGenerateNameBase/len(name)]
}

func podClaimIndexFunc(obj interface{}) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	var keys []string
	for name := range resourceclaim.PodClaims(pod) {
		keys = append(keys, pod.Namespace+"/"+name)
	}
	return keys, nil
}

func claimOwnerIndexFunc(obj interface{}) ([]string, error) {
	claim, ok := obj.(*resourceapi.ResourceClaim)
	if !ok {
		return nil, nil
	}
	if _, uid := owningPod(claim); uid != "" {
		return []string{claim.Namespace + "/" + string(uid)}, nil
	}
	return nil, nil
}
