// Package webhookexclusion lists the resources admission webhooks never see,
// as upstream's kube-apiserver excludes them: the virtual review resources,
// which are answered without being stored.
package webhookexclusion

import "k8s.io/apimachinery/pkg/runtime/schema"

// Excluded returns the resources webhooks are not called for. Webhook
// configurations whose rules name them get a warning.
func Excluded() []schema.GroupResource {
	return []schema.GroupResource{
		{Group: "authentication.k8s.io", Resource: "selfsubjectreviews"},
		{Group: "authentication.k8s.io", Resource: "tokenreviews"},
		{Group: "authorization.k8s.io", Resource: "localsubjectaccessreviews"},
		{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"},
		{Group: "authorization.k8s.io", Resource: "selfsubjectrulesreviews"},
		{Group: "authorization.k8s.io", Resource: "subjectaccessreviews"},
	}
}
