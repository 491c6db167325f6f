package quota

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	storagehelpers "k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"k8s.io/kubernetes/pkg/apis/core/v1/helper"

	"github.com/skiff-project/skiff/pkg/features"
)

var (
	pvcsResource       = corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims")
	pvcObjectCountName = generic.ObjectCountQuotaResourceNameFor(pvcsResource.GroupResource())
	pvcResources       = []corev1.ResourceName{corev1.ResourcePersistentVolumeClaims, corev1.ResourceRequestsStorage}
)

// storageClassSuffix scopes claim quota to one storage class:
// <class>.storageclass.storage.k8s.io/requests.storage.
const storageClassSuffix = ".storageclass.storage.k8s.io/"

// NewPersistentVolumeClaimEvaluator charges claims' count and requested
// storage, in total and per storage class.
func NewPersistentVolumeClaimEvaluator(f quota.ListerForResourceFunc) quota.Evaluator {
	return &pvcEvaluator{list: generic.ListResourceUsingListerFunc(f, pvcsResource)}
}

type pvcEvaluator struct {
	list generic.ListFuncByNamespace
}

var _ quota.Evaluator = &pvcEvaluator{}

func (p *pvcEvaluator) Constraints([]corev1.ResourceName, runtime.Object) error { return nil }

func (p *pvcEvaluator) GroupResource() schema.GroupResource { return pvcsResource.GroupResource() }

// Handles creates, updates (resizes), and status updates that change the
// allocated size or the volume attributes class.
func (p *pvcEvaluator) Handles(a admission.Attributes) bool {
	op := a.GetOperation()
	switch a.GetSubresource() {
	case "":
		return op == admission.Create || op == admission.Update
	case "status":
		pvc, ok1 := a.GetObject().(*corev1.PersistentVolumeClaim)
		old, ok2 := a.GetOldObject().(*corev1.PersistentVolumeClaim)
		return ok1 && ok2 && requiresQuotaReplenish(pvc, old)
	}
	return false
}

func (p *pvcEvaluator) Matches(q *corev1.ResourceQuota, item runtime.Object) (bool, error) {
	return generic.Matches(q, item, p.MatchingResources, p.matchesScope)
}

func (p *pvcEvaluator) matchesScope(selector corev1.ScopedResourceSelectorRequirement, item runtime.Object) (bool, error) {
	if !features.Enabled("VolumeAttributesClass") {
		return generic.MatchesNoScopeFunc(selector, item)
	}
	pvc, ok := item.(*corev1.PersistentVolumeClaim)
	if !ok {
		return false, fmt.Errorf("expect *v1.PersistentVolumeClaim, got %T", item)
	}
	if selector.ScopeName != corev1.ResourceQuotaScopeVolumeAttributesClass {
		return false, nil
	}
	classes := volumeAttributesClasses(pvc)
	if selector.Operator == corev1.ScopeSelectorOpExists {
		return classes.Len() != 0, nil
	}
	sel, err := helper.ScopedResourceSelectorRequirementsAsSelector(selector)
	if err != nil {
		return false, fmt.Errorf("failed to parse and convert selector: %w", err)
	}
	if classes.Len() == 0 {
		return sel.Matches(labels.Set{}), nil
	}
	for c := range classes {
		if sel.Matches(labels.Set{string(corev1.ResourceQuotaScopeVolumeAttributesClass): c}) {
			return true, nil
		}
	}
	return false, nil
}

func (p *pvcEvaluator) MatchingScopes(item runtime.Object, selectors []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	matched := []corev1.ScopedResourceSelectorRequirement{}
	if !features.Enabled("VolumeAttributesClass") {
		return matched, nil
	}
	for _, s := range selectors {
		ok, err := p.matchesScope(s, item)
		if err != nil {
			return []corev1.ScopedResourceSelectorRequirement{}, fmt.Errorf("error on matching scope %v: %w", s, err)
		}
		if ok {
			matched = append(matched, s)
		}
	}
	return matched, nil
}

func (p *pvcEvaluator) UncoveredQuotaScopes(limited, matched []corev1.ScopedResourceSelectorRequirement) ([]corev1.ScopedResourceSelectorRequirement, error) {
	if !features.Enabled("VolumeAttributesClass") {
		return []corev1.ScopedResourceSelectorRequirement{}, nil
	}
	return uncoveredScopes(limited, matched), nil
}

func (p *pvcEvaluator) MatchingResources(items []corev1.ResourceName) []corev1.ResourceName {
	result := []corev1.ResourceName{}
	for _, item := range items {
		if item == pvcObjectCountName || quota.Contains(pvcResources, item) {
			result = append(result, item)
			continue
		}
		for _, r := range pvcResources {
			if strings.HasSuffix(string(item), storageClassSuffix+string(r)) {
				result = append(result, item)
				break
			}
		}
	}
	return result
}

func (p *pvcEvaluator) Usage(item runtime.Object) (corev1.ResourceList, error) {
	pvc, ok := item.(*corev1.PersistentVolumeClaim)
	if !ok {
		return corev1.ResourceList{}, fmt.Errorf("expect *v1.PersistentVolumeClaim, got %T", item)
	}
	one := *resource.NewQuantity(1, resource.DecimalSI)
	result := corev1.ResourceList{corev1.ResourcePersistentVolumeClaims: one, pvcObjectCountName: one}
	class := storagehelpers.GetPersistentVolumeClaimClass(pvc)
	if class != "" {
		result[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourcePersistentVolumeClaims))] = one
	}
	if storage := storageUsage(pvc); storage != nil {
		result[corev1.ResourceRequestsStorage] = *storage
		if class != "" {
			result[corev1.ResourceName(class+storageClassSuffix+string(corev1.ResourceRequestsStorage))] = *storage
		}
	}
	return result, nil
}

// storageUsage is the requested size rounded up to whole bytes, or the
// allocated size while a failed expansion is being recovered.
func storageUsage(pvc *corev1.PersistentVolumeClaim) *resource.Quantity {
	roundUp := func(q resource.Quantity) *resource.Quantity {
		r := q.DeepCopy()
		r.RoundUp(0)
		return &r
	}
	request, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if !ok {
		return nil
	}
	result := roundUp(request)
	if features.Enabled("RecoverVolumeExpansionFailure") {
		if allocated, ok := pvc.Status.AllocatedResources[corev1.ResourceStorage]; ok && allocated.Cmp(*result) > 0 {
			result = roundUp(allocated)
		}
	}
	return result
}

func (p *pvcEvaluator) UsageStats(options quota.UsageStatsOptions) (quota.UsageStats, error) {
	return generic.CalculateUsageStats(options, p.list, p.matchesScope, p.Usage)
}

func requiresQuotaReplenish(pvc, old *corev1.PersistentVolumeClaim) bool {
	if features.Enabled("RecoverVolumeExpansionFailure") && !old.Status.AllocatedResources.Storage().Equal(*pvc.Status.AllocatedResources.Storage()) {
		return true
	}
	return features.Enabled("VolumeAttributesClass") && !volumeAttributesClasses(old).Equal(volumeAttributesClasses(pvc))
}

func volumeAttributesClasses(pvc *corev1.PersistentVolumeClaim) sets.Set[string] {
	names := sets.New[string]()
	if n := ptr.Deref(pvc.Spec.VolumeAttributesClassName, ""); n != "" {
		names.Insert(n)
	}
	if n := ptr.Deref(pvc.Status.CurrentVolumeAttributesClassName, ""); n != "" {
		names.Insert(n)
	}
	if s := pvc.Status.ModifyVolumeStatus; s != nil && s.TargetVolumeAttributesClassName != "" {
		names.Insert(s.TargetVolumeAttributesClassName)
	}
	return names
}
