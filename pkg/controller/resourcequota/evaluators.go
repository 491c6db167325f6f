package resourcequota

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	quota "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/apiserver/pkg/quota/v1/generic"
)

// ignoredResources are never counted (upstream's list): virtual resources
// and events.
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

// DefaultIgnoredResources returns the resources quota never counts.
func DefaultIgnoredResources() map[schema.GroupResource]struct{} { return ignoredResources }

// LegacyObjectCountEvaluators count the objects upstream also counts under
// their pre-"count/" names (configmaps, secrets, resourcequotas,
// replicationcontrollers).
func LegacyObjectCountEvaluators(lister quota.ListerForResourceFunc) []quota.Evaluator {
	aliases := map[string]corev1.ResourceName{
		"configmaps":             corev1.ResourceConfigMaps,
		"secrets":                corev1.ResourceSecrets,
		"resourcequotas":         corev1.ResourceQuotas,
		"replicationcontrollers": corev1.ResourceReplicationControllers,
	}
	var out []quota.Evaluator
	for resource, alias := range aliases {
		gvr := corev1.SchemeGroupVersion.WithResource(resource)
		out = append(out, generic.NewObjectCountEvaluator(gvr.GroupResource(), generic.ListResourceUsingListerFunc(lister, gvr), alias))
	}
	return out
}
