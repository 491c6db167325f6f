// Package pod serves core/v1 Pods with their subresources (status, binding,
// eviction, ephemeralcontainers, resize, log, exec, attach, portforward,
// proxy) and the core bindings resource.
//
// Upstream's pod rules (pkg/api/pod: dropping disabled fields, validation
// options, warnings; pkg/apis/core/validation) work on upstream's internal
// Pod, so the strategies convert through pkg/api/rules around them.
package pod

import (
	"context"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/tools/cache"
	"k8s.io/component-base/featuregate"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	api "k8s.io/kubernetes/pkg/apis/core"
	"k8s.io/kubernetes/pkg/apis/core/helper/qos"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Upstream feature gates the pod rules consult. They are registered in the
// default feature gate by k8s.io/kubernetes/pkg/features, which the pod
// rules import; skiff may not import that package itself.
const (
	featureMatchLabelKeysInPodAffinity                    featuregate.Feature = "MatchLabelKeysInPodAffinity"
	featureMatchLabelKeysInPodTopologySpread              featuregate.Feature = "MatchLabelKeysInPodTopologySpread"
	featureMatchLabelKeysInPodTopologySpreadSelectorMerge featuregate.Feature = "MatchLabelKeysInPodTopologySpreadSelectorMerge"
	featurePodLevelResourcesFixDefaulting                 featuregate.Feature = "PodLevelResourcesFixDefaulting"
	featureInPlacePodLevelResourcesVerticalScaling        featuregate.Feature = "InPlacePodLevelResourcesVerticalScaling"
	featureInPlacePodVerticalScalingMemoryBackedVolumes   featuregate.Feature = "InPlacePodVerticalScalingMemoryBackedVolumes"
	featureClearingNominatedNodeNameAfterBinding          featuregate.Feature = "ClearingNominatedNodeNameAfterBinding"
	featurePodTopologyLabelsAdmission                     featuregate.Feature = "PodTopologyLabelsAdmission"
	featurePodLogsQuerySplitStreams                       featuregate.Feature = "PodLogsQuerySplitStreams"
	featureAuthorizePodWebsocketUpgradeCreatePermission   featuregate.Feature = "AuthorizePodWebsocketUpgradeCreatePermission"
	featureTranslateStreamCloseWebsocketRequests          featuregate.Feature = "TranslateStreamCloseWebsocketRequests"
	featureExtendWebSocketsToKubelet                      featuregate.Feature = "ExtendWebSocketsToKubelet"
	featurePortForwardWebsockets                          featuregate.Feature = "PortForwardWebsockets"
)

func enabled(f featuregate.Feature) bool { return utilfeature.DefaultFeatureGate.Enabled(f) }

// podStrategy is the behaviour of the pods resource itself: the spec is the
// user's, the status is reset on create and kept on update.
type podStrategy struct {
	generic.Strategy
}

var strategy = podStrategy{generic.NewStrategy(true)}

func (podStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

// mutate runs upstream's rules on the internal form of pod (and old). A
// failed conversion cannot happen for a decoded pod; it is reported and the
// pod left as it was, so that validation still runs on it.
func mutate(pod, old *corev1.Pod, fn func(pod, old *api.Pod)) {
	var oldObj runtime.Object
	if old != nil {
		oldObj = old
	}
	if err := generic.ApplyInternal(pod, oldObj, fn); err != nil {
		utilruntime.HandleError(fmt.Errorf("apply upstream's pod rules to pod %s/%s: %w", pod.Namespace, pod.Name, err))
	}
}

// PrepareForCreate starts the pod Pending at generation 1 with its QoS
// class, and applies upstream's create-time mutations.
func (podStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	mutate(obj.(*corev1.Pod), nil, func(pod, _ *api.Pod) {
		pod.Generation = 1
		pod.Status = api.PodStatus{Phase: api.PodPending}
		podutil.DropDisabledPodFields(pod, nil)
		applySchedulingGatedCondition(pod)
		mutatePodAffinity(pod)
		mutateTopologySpreadConstraints(pod)
		applyAppArmorVersionSkew(ctx, pod)
		podutil.DefaultPodLevelResources(pod)
		pod.Status.QOSClass = qos.GetPodQOS(pod)
	})
}

// PrepareForUpdate keeps the status and bumps the generation when the spec
// changes.
func (podStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	mutate(obj.(*corev1.Pod), old.(*corev1.Pod), func(pod, oldPod *api.Pod) {
		pod.Status = oldPod.Status
		keepPodLevelResources(pod, oldPod)
		podutil.DropDisabledPodFields(pod, oldPod)
		updatePodGeneration(pod, oldPod)
	})
}

// keepPodLevelResources keeps spec.resources for clients that do not know
// the field and dropped it.
func keepPodLevelResources(pod, oldPod *api.Pod) {
	if enabled(featurePodLevelResourcesFixDefaulting) && pod.Spec.Resources == nil && oldPod.Spec.Resources != nil {
		pod.Spec.Resources = oldPod.Spec.Resources.DeepCopy()
	}
}

func (podStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, func(pod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, nil, &pod.ObjectMeta, nil)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodCreate(pod, opts)
	})
}

func (podStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pod, oldPod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &oldPod.Spec, &pod.ObjectMeta, &oldPod.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodUpdate(pod, oldPod, opts)
	})
}

// WarningsOnCreate warns about names that are not DNS labels (they become
// the hostname) and whatever upstream's pod warnings find. Updates get no
// warnings, as upstream: pods are updated mostly by machines.
func (podStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	pod := obj.(*corev1.Pod)
	var warnings []string
	if msgs := utilvalidation.IsDNS1123Label(pod.Name); len(msgs) != 0 {
		warnings = append(warnings, fmt.Sprintf("metadata.name: this is used in the Pod's hostname, which can result in surprising behavior; a DNS label is recommended: %v", msgs))
	}
	in, err := toInternal(pod)
	if err != nil {
		utilruntime.HandleError(err)
		return warnings
	}
	return append(warnings, podutil.GetWarningsForPod(ctx, in, nil)...)
}

// CheckGracefulDelete decides the grace period: the request's, else the
// pod's terminationGracePeriodSeconds, else 0. A pod that is not scheduled
// or already terminal has no kubelet to stop it and goes at once.
func (podStrategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if options == nil {
		return false
	}
	pod := obj.(*corev1.Pod)
	var period int64
	switch {
	case options.GracePeriodSeconds != nil:
		period = *options.GracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" {
		period = 0
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		period = 0
	}
	// A negative period means "immediately" to old clients; upstream turns
	// it into the shortest real grace period.
	if period < 0 {
		period = 1
	}
	options.GracePeriodSeconds = &period
	return true
}

// toInternal converts pod for upstream's read-only rules. The result may
// share memory with pod.
func toInternal(pod *corev1.Pod) (*api.Pod, error) {
	in, err := rules.ToInternal(pod)
	if err != nil {
		return nil, fmt.Errorf("convert pod %s/%s to upstream's internal type: %w", pod.Namespace, pod.Name, err)
	}
	out, ok := in.(*api.Pod)
	if !ok {
		return nil, fmt.Errorf("upstream's internal pod is %T", in)
	}
	return out, nil
}

// updatePodGeneration bumps metadata.generation on any spec change.
func updatePodGeneration(pod, oldPod *api.Pod) {
	if !apiequality.Semantic.DeepEqual(pod.Spec, oldPod.Spec) {
		pod.Generation++
	}
}

// podStatusStrategy is the behaviour of pods/status: only the status (and
// metadata other than owner references) changes.
type podStatusStrategy struct {
	podStrategy
}

var statusStrategy = podStatusStrategy{strategy}

func (podStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		"v1": fieldpath.NewSet(
			fieldpath.MakePathOrDie("spec"),
			fieldpath.MakePathOrDie("metadata", "deletionTimestamp"),
			fieldpath.MakePathOrDie("metadata", "ownerReferences"),
		),
	}
}

func (podStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	mutate(obj.(*corev1.Pod), old.(*corev1.Pod), func(pod, oldPod *api.Pod) {
		pod.Spec = oldPod.Spec
		pod.DeletionTimestamp = nil
		// Old kubelets corrupt owner references; the garbage collector
		// depends on them, so /status never changes them.
		pod.OwnerReferences = oldPod.OwnerReferences
		// The QoS class is set at creation and immutable; old kubelets
		// dropped it from rejected pods.
		if pod.Status.QOSClass == "" {
			pod.Status.QOSClass = oldPod.Status.QOSClass
		}
		// Clients that do not know the DRA status fields must not clear
		// them; an explicit empty list still can.
		if pod.Status.ResourceClaimStatuses == nil && oldPod.Status.ResourceClaimStatuses != nil {
			pod.Status.ResourceClaimStatuses = oldPod.Status.ResourceClaimStatuses
		}
		if pod.Status.ExtendedResourceClaimStatus == nil && oldPod.Status.ExtendedResourceClaimStatus != nil {
			pod.Status.ExtendedResourceClaimStatus = oldPod.Status.ExtendedResourceClaimStatus
		}
		if pod.Status.NodeAllocatableResourceClaimStatuses == nil && oldPod.Status.NodeAllocatableResourceClaimStatuses != nil {
			pod.Status.NodeAllocatableResourceClaimStatuses = oldPod.Status.NodeAllocatableResourceClaimStatuses
		}
		preserveObservedGeneration(pod, oldPod)
		podutil.DropDisabledPodFields(pod, oldPod)
	})
}

// preserveObservedGeneration keeps status.observedGeneration and the
// conditions' observedGeneration when a client leaves them out.
func preserveObservedGeneration(pod, oldPod *api.Pod) {
	if pod.Status.ObservedGeneration == 0 {
		pod.Status.ObservedGeneration = oldPod.Status.ObservedGeneration
	}
	// A list per type: validation allows several conditions of one type.
	old := map[api.PodConditionType][]int64{}
	for _, c := range oldPod.Status.Conditions {
		old[c.Type] = append(old[c.Type], c.ObservedGeneration)
	}
	for i, c := range pod.Status.Conditions {
		var generation int64
		if gens := old[c.Type]; len(gens) > 0 {
			generation, old[c.Type] = gens[0], gens[1:]
		}
		if c.ObservedGeneration == 0 {
			pod.Status.Conditions[i].ObservedGeneration = generation
		}
	}
}

func (podStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pod, oldPod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &oldPod.Spec, &pod.ObjectMeta, &oldPod.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodStatusUpdate(pod, oldPod, opts)
	})
}

// WarningsOnUpdate warns about pod and host IPs in non-canonical form.
func (podStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	pod := obj.(*corev1.Pod)
	var warnings []string
	for i, ip := range pod.Status.PodIPs {
		warnings = append(warnings, utilvalidation.GetWarningsForIP(field.NewPath("status", "podIPs").Index(i).Child("ip"), ip.IP)...)
	}
	for i, ip := range pod.Status.HostIPs {
		warnings = append(warnings, utilvalidation.GetWarningsForIP(field.NewPath("status", "hostIPs").Index(i).Child("ip"), ip.IP)...)
	}
	return warnings
}

// podEphemeralContainersStrategy is the behaviour of
// pods/ephemeralcontainers: only spec.ephemeralContainers changes.
type podEphemeralContainersStrategy struct {
	podStrategy
}

var ephemeralContainersStrategy = podEphemeralContainersStrategy{strategy}

func (podEphemeralContainersStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	mutate(obj.(*corev1.Pod), old.(*corev1.Pod), func(pod, oldPod *api.Pod) {
		ephemeral := pod.Spec.EphemeralContainers
		pod.Spec = oldPod.Spec
		pod.Status = oldPod.Status
		metav1.ResetObjectMetaForStatus(&pod.ObjectMeta, &oldPod.ObjectMeta)
		pod.Spec.EphemeralContainers = ephemeral
		podutil.DropDisabledPodFields(pod, oldPod)
		updatePodGeneration(pod, oldPod)
	})
}

func (podEphemeralContainersStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pod, oldPod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &oldPod.Spec, &pod.ObjectMeta, &oldPod.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodEphemeralContainersUpdate(pod, oldPod, opts)
	})
}

func (podEphemeralContainersStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// podResizeStrategy is the behaviour of pods/resize: only containers'
// resources and resize policies (and pod-level resources) change.
type podResizeStrategy struct {
	podStrategy
}

var resizeStrategy = podResizeStrategy{strategy}

func (podResizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	mutate(obj.(*corev1.Pod), old.(*corev1.Pod), func(pod, oldPod *api.Pod) {
		dropNonResizeUpdates(pod, oldPod)
		if enabled(featurePodLevelResourcesFixDefaulting) {
			keepPodLevelResources(pod, oldPod)
			// Complete pod-level resources set by the resize the way
			// creation would have.
			if pod.Spec.Resources != nil {
				podutil.DefaultPodLevelResources(pod)
			}
		}
		podutil.DropDisabledPodFields(pod, oldPod)
		updatePodGeneration(pod, oldPod)
	})
}

// dropNonResizeUpdates keeps only the resize's changes. Added, removed,
// reordered or renamed containers are left in place for validation to
// reject.
func dropNonResizeUpdates(pod, oldPod *api.Pod) {
	if len(pod.Spec.Containers) != len(oldPod.Spec.Containers) || len(pod.Spec.InitContainers) != len(oldPod.Spec.InitContainers) {
		return
	}
	podResources := pod.Spec.Resources
	volumes := oldPod.Spec.Volumes
	if enabled(featureInPlacePodVerticalScalingMemoryBackedVolumes) {
		volumes = pod.Spec.Volumes
	}
	containers := resizedContainers(pod.Spec.Containers, oldPod.Spec.Containers)
	initContainers := resizedContainers(pod.Spec.InitContainers, oldPod.Spec.InitContainers)

	pod.Spec = oldPod.Spec
	if enabled(featureInPlacePodLevelResourcesVerticalScaling) {
		pod.Spec.Resources = podResources
	}
	pod.Status = oldPod.Status
	metav1.ResetObjectMetaForStatus(&pod.ObjectMeta, &oldPod.ObjectMeta)
	pod.Spec.Containers = containers
	pod.Spec.InitContainers = initContainers
	pod.Spec.Volumes = volumes
}

// resizedContainers returns the old containers with the new resources and
// resize policies, or the new containers unchanged if names differ.
func resizedContainers(containers, old []api.Container) []api.Container {
	if len(containers) == 0 {
		return containers
	}
	out := make([]api.Container, len(old))
	copy(out, old)
	for i, c := range containers {
		if out[i].Name != c.Name {
			return containers
		}
		out[i].Resources = c.Resources
		out[i].ResizePolicy = c.ResizePolicy
	}
	return out
}

func (podResizeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, func(pod, oldPod *api.Pod) field.ErrorList {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&pod.Spec, &oldPod.Spec, &pod.ObjectMeta, &oldPod.ObjectMeta)
		opts.ResourceIsPod = true
		return corevalidation.ValidatePodResize(pod, oldPod, opts)
	})
}

func (podResizeStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// getAttrs gives pods' labels and selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil, fmt.Errorf("not a pod: %T", obj)
	}
	return pod.Labels, selectableFields(pod), nil
}

// selectableFields are the fields pods can be selected by. status.podIPs is
// accepted by the field label conversion but, as upstream, not selectable.
func selectableFields(pod *corev1.Pod) fields.Set {
	podIP := ""
	if len(pod.Status.PodIPs) > 0 {
		podIP = pod.Status.PodIPs[0].IP
	}
	return apigeneric.AddObjectMetaFieldsSet(fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             podIP,
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}, &pod.ObjectMeta, true)
}

// matchPod selects pods; spec.nodeName is indexed in the watch cache since
// every kubelet watches its node's pods.
func matchPod(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
	return storage.SelectionPredicate{
		Label:       label,
		Field:       field,
		GetAttrs:    getAttrs,
		IndexFields: []string{"spec.nodeName"},
	}
}

func nodeNameTrigger(obj runtime.Object) string {
	return obj.(*corev1.Pod).Spec.NodeName
}

func nodeNameIndex(obj interface{}) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, fmt.Errorf("not a pod: %T", obj)
	}
	return []string{pod.Spec.NodeName}, nil
}

func indexers() *cache.Indexers {
	return &cache.Indexers{storage.FieldIndex("spec.nodeName"): nodeNameIndex}
}

// The create-time mutations below are upstream's, from its pod strategy.

// applyLabelKeysToLabelSelector adds "key op (value of key in the pod's
// labels)" to selector for each key.
func applyLabelKeysToLabelSelector(selector *metav1.LabelSelector, keys []string, op metav1.LabelSelectorOperator, podLabels map[string]string) {
	for _, key := range keys {
		if value, ok := podLabels[key]; ok {
			selector.MatchExpressions = append(selector.MatchExpressions, metav1.LabelSelectorRequirement{
				Key: key, Operator: op, Values: []string{value},
			})
		}
	}
}

// applyMatchLabelKeys merges matchLabelKeys (In) and mismatchLabelKeys
// (NotIn) into a pod affinity term's selector. A nil selector matches
// nothing and stays nil.
func applyMatchLabelKeys(term *api.PodAffinityTerm, podLabels map[string]string) {
	if (len(term.MatchLabelKeys) == 0 && len(term.MismatchLabelKeys) == 0) || term.LabelSelector == nil {
		return
	}
	applyLabelKeysToLabelSelector(term.LabelSelector, term.MatchLabelKeys, metav1.LabelSelectorOpIn, podLabels)
	applyLabelKeysToLabelSelector(term.LabelSelector, term.MismatchLabelKeys, metav1.LabelSelectorOpNotIn, podLabels)
}

func mutatePodAffinity(pod *api.Pod) {
	if !enabled(featureMatchLabelKeysInPodAffinity) || pod.Spec.Affinity == nil {
		return
	}
	if a := pod.Spec.Affinity.PodAffinity; a != nil {
		for i := range a.PreferredDuringSchedulingIgnoredDuringExecution {
			applyMatchLabelKeys(&a.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm, pod.Labels)
		}
		for i := range a.RequiredDuringSchedulingIgnoredDuringExecution {
			applyMatchLabelKeys(&a.RequiredDuringSchedulingIgnoredDuringExecution[i], pod.Labels)
		}
	}
	if a := pod.Spec.Affinity.PodAntiAffinity; a != nil {
		for i := range a.PreferredDuringSchedulingIgnoredDuringExecution {
			applyMatchLabelKeys(&a.PreferredDuringSchedulingIgnoredDuringExecution[i].PodAffinityTerm, pod.Labels)
		}
		for i := range a.RequiredDuringSchedulingIgnoredDuringExecution {
			applyMatchLabelKeys(&a.RequiredDuringSchedulingIgnoredDuringExecution[i], pod.Labels)
		}
	}
}

func mutateTopologySpreadConstraints(pod *api.Pod) {
	if !enabled(featureMatchLabelKeysInPodTopologySpread) || !enabled(featureMatchLabelKeysInPodTopologySpreadSelectorMerge) {
		return
	}
	for i := range pod.Spec.TopologySpreadConstraints {
		c := &pod.Spec.TopologySpreadConstraints[i]
		if len(c.MatchLabelKeys) == 0 || c.LabelSelector == nil {
			continue
		}
		applyLabelKeysToLabelSelector(c.LabelSelector, c.MatchLabelKeys, metav1.LabelSelectorOpIn, pod.Labels)
	}
}

// applySchedulingGatedCondition marks a pod created with scheduling gates
// as PodScheduled=False/SchedulingGated.
func applySchedulingGatedCondition(pod *api.Pod) {
	if len(pod.Spec.SchedulingGates) == 0 {
		return
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == api.PodScheduled {
			return
		}
	}
	podutil.UpdatePodCondition(&pod.Status, &api.PodCondition{
		Type:    api.PodScheduled,
		Status:  api.ConditionFalse,
		Reason:  corev1.PodReasonSchedulingGated,
		Message: "Scheduling is blocked due to non-empty scheduling gates",
	})
}

// applyAppArmorVersionSkew copies the deprecated per-container AppArmor
// annotations into securityContext.appArmorProfile (KEP-24 version skew),
// warning about the deprecated annotation.
func applyAppArmorVersionSkew(ctx context.Context, pod *api.Pod) {
	if pod.Spec.OS != nil && pod.Spec.OS.Name == api.Windows {
		return
	}
	var podProfile *api.AppArmorProfile
	if pod.Spec.SecurityContext != nil {
		podProfile = pod.Spec.SecurityContext.AppArmorProfile
	}
	podutil.VisitContainers(&pod.Spec, podutil.AllFeatureEnabledContainers(), func(ctr *api.Container, _ podutil.ContainerType) bool {
		key := api.DeprecatedAppArmorAnnotationKeyPrefix + ctr.Name
		annotation, ok := pod.Annotations[key]
		if !ok || (ctr.SecurityContext != nil && ctr.SecurityContext.AppArmorProfile != nil) {
			return true
		}
		profile := podutil.ApparmorFieldForAnnotation(annotation)
		if errs := corevalidation.ValidateAppArmorProfileField(profile, &field.Path{}); len(errs) > 0 {
			profile = nil
		}
		warn := profile == nil
		if profile != nil && !apiequality.Semantic.DeepEqual(profile, podProfile) {
			if ctr.SecurityContext == nil {
				ctr.SecurityContext = &api.SecurityContext{}
			}
			ctr.SecurityContext.AppArmorProfile = profile
			warn = true
		}
		if warn {
			path := field.NewPath("metadata", "annotations").Key(key)
			warning.AddWarning(ctx, "", fmt.Sprintf(`%s: deprecated since v1.30; use the "appArmorProfile" field instead`, path))
		}
		return true
	})
}
