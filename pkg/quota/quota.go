// Package quota holds skiff's quota evaluators: what pods, services and
// persistent volume claims charge against a ResourceQuota (upstream's
// pkg/quota/v1/evaluator/core, on k8s.io/api types), plus the object-count
// evaluators upstream aliases to the legacy names (configmaps, secrets,
// ...). The ResourceQuota admission plugin (k8s.io/apiserver) and the
// resource-quota controller both use them.
package quota

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
	"k8s.io/utils/clock"
)

// legacyObjectCountAliases count objects under their pre-"count/" names.
var legacyObjectCountAliases = map[schema.GroupVersionResource]corev1.ResourceName{
	corev1.SchemeGroupVersion.WithResource("configmaps"):             corev1.ResourceConfigMaps,
	corev1.SchemeGroupVersion.WithResource("resourcequotas"):         corev1.ResourceQuotas,
	corev1.SchemeGroupVersion.WithResource("replicationcontrollers"): corev1.ResourceReplicationControllers,
	corev1.SchemeGroupVersion.WithResource("secrets"):                corev1.ResourceSecrets,
}

// ignoredResources are never charged: virtual resources and events.
var ignoredResources = map[schema.GroupResource]struct{}{
	{Group: "", Resource: "bindings"}:                                      {},
	{Group: "", Resource: "componentstatuses"}:                             {},
	{Group: "authentication.k8s.io", Resource: "tokenreviews"}:             {},
	{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"}:       {},
	{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}:      {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}:  {},
	{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"}: {},
	{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"}:   {},
	{Group: "", Resource: "events"}:                                        {},
	{Group: "events.k8s.io", Resource: "events"}:                           {},
}

// IgnoredResources are the resources quota never charges.
func IgnoredResources() map[schema.GroupResource]struct{} { return ignoredResources }

// NewEvaluators returns the evaluators with special usage rules and the
// legacy object-count ones. f lists objects for usage stats (the
// controller's informers); admission passes nil, as it needs none.
func NewEvaluators(f quota.ListerForResourceFunc) []quota.Evaluator {
	result := []quota.Evaluator{
		NewPodEvaluator(f, clock.RealClock{}),
		NewServiceEvaluator(f),
		NewPersistentVolumeClaimEvaluator(f),
	}
	for gvr, alias := range legacyObjectCountAliases {
		result = append(result, generic.NewObjectCountEvaluator(gvr.GroupResource(), generic.ListResourceUsingListerFunc(f, gvr), alias))
	}
	return result
}

// NewConfigurationForAdmission is the quota configuration of the
// ResourceQuota admission plugin; other resources get object-count
// evaluators on demand.
func NewConfigurationForAdmission() quota.Configuration {
	return generic.NewConfiguration(NewEvaluators(nil), IgnoredResources())
}

// NewConfigurationForControllers is the resource-quota controller's, which
// lists objects through f to compute usage.
func NewConfigurationForControllers(f quota.ListerForResourceFunc) quota.Configuration {
	return generic.NewConfiguration(NewEvaluators(f), IgnoredResources())
}
