// Package node is skiff's Node authorizer, with upstream's semantics: a
// kubelet (user system:node:<name> in group system:nodes) may read only the
// secrets, configmaps, volumes, claims and service-account tokens of pods
// bound to its node, its own Node and Lease, and otherwise what the
// system:node role grants. NodeRestriction admission narrows writes further.
package node

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/klog/v2"

	rbacauthorizer "github.com/skiff-project/skiff/pkg/auth/authorizer/rbac"
)

// NodeUserPrefix starts the user name of every node.
const NodeUserPrefix = "system:node:"

// Identity returns the node a user is, as upstream's default node
// identifier: a member of system:nodes named system:node:<name>. isNode is
// true for members of system:nodes even when the name is malformed.
func Identity(u user.Info) (name string, isNode bool) {
	if u == nil {
		return "", false
	}
	for _, g := range u.GetGroups() {
		if g == user.NodesGroup {
			isNode = true
			break
		}
	}
	if !isNode {
		return "", false
	}
	if !strings.HasPrefix(u.GetName(), NodeUserPrefix) {
		return "", true
	}
	return strings.TrimPrefix(u.GetName(), NodeUserPrefix), true
}

// Authorizer is the Node authorizer.
type Authorizer struct {
	graph *Graph
	rules []rbacv1.PolicyRule
}

var (
	_ authorizer.Authorizer   = &Authorizer{}
	_ authorizer.RuleResolver = &Authorizer{}
)

// New returns a Node authorizer over graph; nodeRules apply to every node
// for resources the authorizer does not subdivide (the system:node role).
func New(graph *Graph, nodeRules []rbacv1.PolicyRule) *Authorizer {
	return &Authorizer{graph: graph, rules: nodeRules}
}

var (
	secrets                = schema.GroupResource{Resource: "secrets"}
	configMaps             = schema.GroupResource{Resource: "configmaps"}
	pods                   = schema.GroupResource{Resource: "pods"}
	nodes                  = schema.GroupResource{Resource: "nodes"}
	pvcs                   = schema.GroupResource{Resource: "persistentvolumeclaims"}
	pvs                    = schema.GroupResource{Resource: "persistentvolumes"}
	serviceAccounts        = schema.GroupResource{Resource: "serviceaccounts"}
	resourceClaims         = schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceclaims"}
	resourceSlices         = schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceslices"}
	volumeAttachments      = schema.GroupResource{Group: "storage.k8s.io", Resource: "volumeattachments"}
	leases                 = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	csiNodes               = schema.GroupResource{Group: "storage.k8s.io", Resource: "csinodes"}
	podCertificateRequests = schema.GroupResource{Group: "certificates.k8s.io", Resource: "podcertificaterequests"}
)

// RulesFor implements authorizer.RuleResolver: a node's permissions cannot
// be listed (they depend on the graph), as upstream says.
func (a *Authorizer) RulesFor(_ context.Context, u user.Info, _ string) ([]authorizer.ResourceRuleInfo, []authorizer.NonResourceRuleInfo, bool, error) {
	if _, isNode := Identity(u); isNode {
		return nil, nil, true, fmt.Errorf("node authorizer does not support user rule resolution")
	}
	return nil, nil, false, nil
}

// ConditionsAwareAuthorize implements authorizer.Authorizer.
func (a *Authorizer) ConditionsAwareAuthorize(ctx context.Context, attrs authorizer.Attributes) authorizer.ConditionsAwareDecision {
	return authorizer.ConditionsAwareDecisionFromParts(a.Authorize(ctx, attrs))
}

// EvaluateConditions implements authorizer.Authorizer.
func (a *Authorizer) EvaluateConditions(context.Context, authorizer.ConditionsAwareDecision, authorizer.ConditionsData) (authorizer.Decision, string, error) {
	return authorizer.DecisionDeny, "", authorizer.ErrorConditionEvaluationNotSupported
}

// Authorize implements authorizer.Authorizer. It never denies: requests it
// does not allow go on to RBAC.
func (a *Authorizer) Authorize(_ context.Context, attrs authorizer.Attributes) (authorizer.Decision, string, error) {
	node, isNode := Identity(attrs.GetUser())
	if !isNode {
		return authorizer.DecisionNoOpinion, "", nil
	}
	if node == "" {
		klog.V(2).InfoS("NODE DENY: unknown node", "user", attrs.GetUser().GetName())
		return authorizer.DecisionNoOpinion, fmt.Sprintf("unknown node for user %q", attrs.GetUser().GetName()), nil
	}
	d, reason := a.decide(node, attrs)
	if d != authorizer.DecisionAllow {
		klog.V(2).InfoS("NODE DENY", "node", node, "verb", attrs.GetVerb(), "resource", attrs.GetResource(), "subresource", attrs.GetSubresource(),
			"namespace", attrs.GetNamespace(), "name", attrs.GetName(), "reason", reason)
	}
	return d, reason, nil
}

var (
	allow     = authorizer.DecisionAllow
	noOpinion = authorizer.DecisionNoOpinion
)

func (a *Authorizer) decide(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.IsResourceRequest() {
		switch (schema.GroupResource{Group: attrs.GetAPIGroup(), Resource: attrs.GetResource()}) {
		case secrets:
			return a.readNamespaced(node, secretKind, attrs)
		case configMaps:
			return a.readNamespaced(node, configMapKind, attrs)
		case pvcs:
			if attrs.GetSubresource() == "status" {
				return a.statusUpdate(node, pvcKind, attrs)
			}
			return a.get(node, pvcKind, attrs)
		case pvs:
			return a.get(node, pvKind, attrs)
		case resourceClaims:
			return a.get(node, resourceClaimKind, attrs)
		case volumeAttachments:
			return a.get(node, volumeAttachmentKind, attrs)
		case serviceAccounts:
			if attrs.GetVerb() == "get" && attrs.GetSubresource() == "" {
				return a.readNamespaced(node, serviceAccountKind, attrs)
			}
			return a.createToken(node, attrs)
		case leases:
			return leaseDecision(node, attrs)
		case csiNodes:
			return csiNodeDecision(node, attrs)
		case resourceSlices:
			return a.resourceSlice(node, attrs)
		case nodes:
			return nodeDecision(node, attrs)
		case pods:
			return a.pod(node, attrs)
		case podCertificateRequests:
			return a.podCertificateRequest(node, attrs)
		}
	}
	if rbacauthorizer.RulesAllow(attrs, a.rules...) {
		return allow, ""
	}
	return noOpinion, ""
}

func (a *Authorizer) statusUpdate(node string, k kind, attrs authorizer.Attributes) (authorizer.Decision, string) {
	switch attrs.GetVerb() {
	case "update", "patch":
	default:
		return noOpinion, "can only get/update/patch this type"
	}
	return a.related(node, k, attrs)
}

func (a *Authorizer) get(node string, k kind, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.GetVerb() != "get" {
		return noOpinion, "can only get individual resources of this type"
	}
	if attrs.GetSubresource() != "" {
		return noOpinion, "cannot get subresource"
	}
	return a.related(node, k, attrs)
}

func (a *Authorizer) readNamespaced(node string, k kind, attrs authorizer.Attributes) (authorizer.Decision, string) {
	switch attrs.GetVerb() {
	case "get", "list", "watch":
	default:
		return noOpinion, "can only read resources of this type"
	}
	if attrs.GetSubresource() != "" {
		return noOpinion, "cannot read subresource"
	}
	if attrs.GetNamespace() == "" {
		return noOpinion, "can only read namespaced object of this type"
	}
	return a.related(node, k, attrs)
}

// related allows the request when the named object is related to node.
func (a *Authorizer) related(node string, k kind, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.GetName() == "" {
		return noOpinion, "No Object name found"
	}
	if !a.graph.related(node, ref{k, attrs.GetNamespace(), attrs.GetName()}) {
		return noOpinion, fmt.Sprintf("no relationship found between node '%s' and this object", node)
	}
	return allow, ""
}

// createToken allows TokenRequests for the service accounts of the node's
// pods (NodeRestriction checks the token is bound to such a pod).
func (a *Authorizer) createToken(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.GetVerb() != "create" || attrs.GetName() == "" {
		return noOpinion, "can only create tokens for individual service accounts"
	}
	if attrs.GetSubresource() != "token" {
		return noOpinion, "can only create token subresource of serviceaccount"
	}
	return a.related(node, serviceAccountKind, attrs)
}

func leaseDecision(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	verb := attrs.GetVerb()
	switch verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return noOpinion, "can only get, create, update, patch, or delete a node lease"
	}
	if attrs.GetNamespace() != corev1.NamespaceNodeLease {
		return noOpinion, fmt.Sprintf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease)
	}
	// On create the name is not known here; NodeRestriction checks it.
	if verb != "create" && attrs.GetName() != node {
		return noOpinion, "can only access node lease with the same name as the requesting node"
	}
	return allow, ""
}

func csiNodeDecision(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	verb := attrs.GetVerb()
	switch attrs.GetSubresource() {
	case "":
	case "status":
		// Upstream's CSIVolumeHealth feature (off by default) opens it.
		return noOpinion, "CSINode status access requires CSIVolumeHealth feature"
	default:
		return noOpinion, "cannot authorize CSINode subresources"
	}
	switch verb {
	case "get", "create", "update", "patch", "delete":
	default:
		return noOpinion, "can only get, create, update, patch, or delete a CSINode"
	}
	if verb != "create" && attrs.GetName() != node {
		return noOpinion, "can only access CSINode with the same name as the requesting node"
	}
	return allow, ""
}

func (a *Authorizer) resourceSlice(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.GetSubresource() != "" {
		return noOpinion, "cannot authorize ResourceSlice subresources"
	}
	switch attrs.GetVerb() {
	case "create":
		// NodeRestriction checks spec.nodeName on create.
		return allow, ""
	case "get", "update", "patch", "delete":
		return a.related(node, resourceSliceKind, attrs)
	case "watch", "list", "deletecollection":
		if fieldSelectsNode(attrs, "spec.nodeName", node) {
			return allow, ""
		}
		return noOpinion, "can only list/watch/deletecollection resourceslices with nodeName field selector"
	}
	return noOpinion, "only the following verbs are allowed for a ResourceSlice: get, watch, list, create, update, patch, delete, deletecollection"
}

func (a *Authorizer) podCertificateRequest(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	if attrs.GetSubresource() != "" {
		return noOpinion, "nodes may not access the status subresource of PodCertificateRequests"
	}
	switch attrs.GetVerb() {
	case "create":
		return allow, ""
	case "get":
		return a.related(node, podCertificateRequestKind, attrs)
	case "list", "watch":
		if fieldSelectsNode(attrs, "spec.nodeName", node) {
			return allow, ""
		}
		return noOpinion, "can only list/watch podcertificaterequests with nodeName field selector"
	}
	return noOpinion, fmt.Sprintf("nodes may not %s podcertificaterequests", attrs.GetVerb())
}

func nodeDecision(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	switch attrs.GetSubresource() {
	case "":
		switch attrs.GetVerb() {
		case "create", "update", "patch":
			// NodeRestriction limits a node to its own Node object.
			return allow, ""
		case "get", "list", "watch":
			// By name, not through the graph, so that a kubelet can read its
			// Node before creating it.
			switch attrs.GetName() {
			case node:
				return allow, ""
			case "":
				return noOpinion, fmt.Sprintf("node '%s' cannot read all nodes, only its own Node object", node)
			default:
				return noOpinion, fmt.Sprintf("node '%s' cannot read '%s', only its own Node object", node, attrs.GetName())
			}
		}
	case "status":
		switch attrs.GetVerb() {
		case "update", "patch":
			return allow, ""
		}
	}
	return noOpinion, ""
}

func (a *Authorizer) pod(node string, attrs authorizer.Attributes) (authorizer.Decision, string) {
	switch attrs.GetSubresource() {
	case "":
		switch attrs.GetVerb() {
		case "get":
			return a.get(node, podKind, attrs)
		case "list", "watch":
			if fieldSelectsNode(attrs, "spec.nodeName", node) {
				return allow, ""
			}
			if attrs.GetName() != "" {
				return a.related(node, podKind, attrs)
			}
			return noOpinion, "can only list/watch pods with spec.nodeName field selector"
		case "create", "delete":
			// Mirror pods; NodeRestriction limits them to the node.
			return allow, ""
		}
	case "status":
		switch attrs.GetVerb() {
		case "update", "patch":
			return allow, ""
		}
	case "eviction":
		if attrs.GetVerb() == "create" {
			return allow, ""
		}
	}
	return noOpinion, ""
}

// fieldSelectsNode reports whether the request's field selector requires
// field == node.
func fieldSelectsNode(attrs authorizer.Attributes, field, node string) bool {
	reqs, _ := attrs.GetFieldSelector()
	for _, r := range reqs {
		if r.Field == field && r.Operator == selection.Equals && r.Value == node {
			return true
		}
	}
	return false
}
