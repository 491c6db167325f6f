// Package bootstrappolicy holds the RBAC roles and bindings every cluster
// starts with: upstream's (plugin/pkg/auth/authorizer/rbac/bootstrappolicy)
// by name and rules, with upstream's default feature gates. The API server
// reconciles them at every start (see Reconcile).
//
// The data in roles.go was written from upstream's golden files (kept in
// testdata/ for the comparison test) and is maintained by hand.
package bootstrappolicy

import (
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	rbacv1helpers "k8s.io/kubernetes/pkg/apis/rbac/v1"
)

// ControllerRolePrefix starts the name of every controller's ClusterRole.
const ControllerRolePrefix = "system:controller:"

var (
	read       = []string{"get", "list", "watch"}
	write      = []string{"create", "update", "patch", "delete", "deletecollection"}
	readWrite  = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	readUpdate = []string{"get", "list", "watch", "update", "patch"}
)

const (
	legacyGroup                  = ""
	appsGroup                    = "apps"
	authenticationGroup          = "authentication.k8s.io"
	authorizationGroup           = "authorization.k8s.io"
	autoscalingGroup             = "autoscaling"
	batchGroup                   = "batch"
	certificatesGroup            = "certificates.k8s.io"
	coordinationGroup            = "coordination.k8s.io"
	discoveryGroup               = "discovery.k8s.io"
	extensionsGroup              = "extensions"
	policyGroup                  = "policy"
	rbacGroup                    = "rbac.authorization.k8s.io"
	resourceGroup                = "resource.k8s.io"
	storageGroup                 = "storage.k8s.io"
	networkingGroup              = "networking.k8s.io"
	eventsGroup                  = "events.k8s.io"
	admissionRegistrationGroup   = "admissionregistration.k8s.io"
	schedulingGroup              = "scheduling.k8s.io"
	storageVersionMigrationGroup = "storagemigration.k8s.io"
	internalAPIServerGroup       = "internal.apiserver.k8s.io"
	nodeGroup                    = "node.k8s.io"
	apiextensionsGroup           = "apiextensions.k8s.io"
)

var (
	newRule           = rbacv1helpers.NewRule
	newClusterBinding = rbacv1helpers.NewClusterBinding
)

// ClusterRoles are the default ClusterRoles, controllers' included.
func ClusterRoles() []rbacv1.ClusterRole {
	roles := append(clusterRoles(), controllerRoles()...)
	for i := range roles {
		addDefaultMetadata(&roles[i])
	}
	return roles
}

// ClusterRoleBindings are the default ClusterRoleBindings, controllers'
// included.
func ClusterRoleBindings() []rbacv1.ClusterRoleBinding {
	bindings := clusterRoleBindings()
	for _, role := range controllerRoles() {
		sa := strings.TrimPrefix(role.Name, ControllerRolePrefix)
		bindings = append(bindings, newClusterBinding(role.Name).SAs("kube-system", sa).BindingOrDie())
	}
	for i := range bindings {
		addDefaultMetadata(&bindings[i])
	}
	return bindings
}

// Roles are the default namespaced Roles.
func Roles() []rbacv1.Role {
	roles := namespaceRoles()
	for i := range roles {
		addDefaultMetadata(&roles[i])
	}
	return roles
}

// RoleBindings are the default namespaced RoleBindings.
func RoleBindings() []rbacv1.RoleBinding {
	bindings := namespaceRoleBindings()
	for i := range bindings {
		addDefaultMetadata(&bindings[i])
	}
	return bindings
}

// addDefaultMetadata marks a default object as upstream does: reconciled
// at start unless a user sets the autoupdate annotation to "false".
func addDefaultMetadata(obj runtime.Object) {
	m, err := meta.Accessor(obj)
	if err != nil {
		panic(err) // only this package's static objects get here
	}
	labels := m.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels["kubernetes.io/bootstrapping"] = "rbac-defaults"
	m.SetLabels(labels)
	annotations := m.GetAnnotations()
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[rbacv1.AutoUpdateAnnotationKey] = "true"
	m.SetAnnotations(annotations)
}

// eventsRule lets a component record events in both event APIs.
func eventsRule() rbacv1.PolicyRule {
	return newRule("create", "update", "patch").Groups(legacyGroup, eventsGroup).Resources("events").RuleOrDie()
}

// aggregateFrom selects the ClusterRoles labelled key=true.
func aggregateFrom(keys ...string) *rbacv1.AggregationRule {
	rule := &rbacv1.AggregationRule{}
	for _, k := range keys {
		rule.ClusterRoleSelectors = append(rule.ClusterRoleSelectors, metav1.LabelSelector{MatchLabels: map[string]string{k: "true"}})
	}
	return rule
}

// controllerRole is the ClusterRole of the controller whose service account
// in kube-system is named name.
func controllerRole(name string, rules ...rbacv1.PolicyRule) rbacv1.ClusterRole {
	return rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: ControllerRolePrefix + name}, Rules: rules}
}

// namespaceRole is a Role in one of the kube- namespaces.
func namespaceRole(namespace, name string, rules ...rbacv1.PolicyRule) rbacv1.Role {
	return rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Rules: rules}
}

// newRoleBinding binds the Role roleName in namespace.
func newRoleBinding(namespace, name, roleName string) *rbacv1helpers.RoleBindingBuilder {
	b := rbacv1helpers.NewRoleBinding(roleName, namespace)
	b.RoleBinding.Name = name
	return b
}

// NodeRules are the rules of the system:node ClusterRole, which the Node
// authorizer applies to every node for resources it does not subdivide.
func NodeRules() []rbacv1.PolicyRule {
	for _, r := range clusterRoles() {
		if r.Name == "system:node" {
			return r.Rules
		}
	}
	panic("bootstrappolicy: no system:node role")
}
