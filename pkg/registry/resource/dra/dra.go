// Package dra holds what the storages of resource.k8s.io share: dropping
// claim-spec fields of disabled features, the namespace check for admin
// access to devices, and the extra permissions that writing a claim's status
// needs.
package dra

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/kubernetes/pkg/api/resourceclaimspec"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/apis/resource"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// DropDisabledClaimSpecFields clears the fields of spec that belong to
// disabled features, unless old (nil on create) already uses them. It runs
// upstream's rules on the internal form of the spec.
func DropDisabledClaimSpecFields(spec, old *resourcev1.ResourceClaimSpec) {
	in, err := internalClaimSpec(spec)
	if err != nil {
		return
	}
	var oldIn *resource.ResourceClaimSpec
	if old != nil {
		if oldIn, err = internalClaimSpec(old); err != nil {
			return
		}
	}
	resourceclaimspec.DropDisabledFields(in, oldIn)
	out := &resourcev1.ResourceClaim{}
	if err := rules.FromInternal(&resource.ResourceClaim{Spec: *in}, out); err != nil {
		return
	}
	*spec = out.Spec
}

// ClaimSpecUsesAdminAccess reports whether spec asks for admin access, as
// upstream's feature-in-use check does.
func ClaimSpecUsesAdminAccess(spec *resourcev1.ResourceClaimSpec) bool {
	in, err := internalClaimSpec(spec)
	if err != nil {
		return false
	}
	return resourceclaimspec.DRAAdminAccessFeatureInUse(in)
}

// ClaimSpecUsesConsumableCapacity reports whether spec uses consumable
// capacity, as upstream's feature-in-use check does.
func ClaimSpecUsesConsumableCapacity(spec *resourcev1.ResourceClaimSpec) bool {
	in, err := internalClaimSpec(spec)
	if err != nil {
		return false
	}
	return resourceclaimspec.DRAConsumableCapacityFeatureInUse(in)
}

func internalClaimSpec(spec *resourcev1.ResourceClaimSpec) (*resource.ResourceClaimSpec, error) {
	in, err := rules.ToInternal(&resourcev1.ResourceClaim{Spec: *spec})
	if err != nil {
		return nil, err
	}
	claim, ok := in.(*resource.ResourceClaim)
	if !ok {
		return nil, fmt.Errorf("unexpected internal type %T", in)
	}
	return &claim.Spec, nil
}

// AuthorizedForAdmin refuses requests for admin access to devices unless the
// claim's namespace carries the resource.kubernetes.io/admin-access label.
func AuthorizedForAdmin(ctx context.Context, requests []resourcev1.DeviceRequest, namespace string, namespaces corev1client.NamespaceInterface) field.ErrorList {
	for i := range requests {
		exactly := requests[i].Exactly
		if exactly == nil || exactly.AdminAccess == nil || !*exactly.AdminAccess {
			continue
		}
		return checkAdminNamespace(ctx, namespace, namespaces, field.NewPath("spec", "devices", "requests").Index(i).Child("adminAccess"))
	}
	return nil
}

// AuthorizedForAdminStatus does the same for an allocation that newly grants
// admin access.
func AuthorizedForAdminStatus(ctx context.Context, results, oldResults []resourcev1.DeviceRequestAllocationResult, namespace string, namespaces corev1client.NamespaceInterface) field.ErrorList {
	if granted, _ := adminAccessAllocated(oldResults); granted {
		return nil
	}
	requested, path := adminAccessAllocated(results)
	if !requested {
		return nil
	}
	return checkAdminNamespace(ctx, namespace, namespaces, path)
}

func adminAccessAllocated(results []resourcev1.DeviceRequestAllocationResult) (bool, *field.Path) {
	for i := range results {
		if v := results[i].AdminAccess; v != nil && *v {
			return true, field.NewPath("status", "allocation", "devices", "results").Index(i).Child("adminAccess")
		}
	}
	return false, nil
}

func checkAdminNamespace(ctx context.Context, namespace string, namespaces corev1client.NamespaceInterface, path *field.Path) field.ErrorList {
	ns, err := namespaces.Get(ctx, namespace, metav1.GetOptions{})
	if err != nil {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("could not retrieve namespace to verify admin access: %w", err))}
	}
	if ns.Labels[resourcev1.DRAAdminNamespaceLabelKey] != "true" {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf("admin access to devices requires the `%s: true` label on the containing namespace", resourcev1.DRAAdminNamespaceLabelKey))}
	}
	return nil
}

// AuthorizedForBinding requires permission on resourceclaims/binding (for
// any claim, cluster-wide) to change the allocation or the reservations:
// that is the scheduler's job.
func AuthorizedForBinding(ctx context.Context, path *field.Path, authz authorizer.UnconditionalAuthorizer, status, oldStatus resourcev1.ResourceClaimStatus) field.ErrorList {
	if equality.Semantic.DeepEqual(status.Allocation, oldStatus.Allocation) &&
		equality.Semantic.DeepEqual(status.ReservedFor, oldStatus.ReservedFor) {
		return nil
	}
	base, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("cannot build authorizer attributes: %w", err))}
	}
	attrs := &subresourceAttributes{Attributes: base, verb: base.GetVerb(), subresource: resourcev1.SubresourceBinding}
	if err := authorize(ctx, authz, attrs); err != nil {
		return field.ErrorList{field.Forbidden(path, fmt.Sprintf(`changing status.allocation or status.reservedFor requires resource="resourceclaims/binding", verb="%s" permission: %s`, attrs.verb, err))}
	}
	return nil
}

// AuthorizedForDeviceStatus requires, for each driver whose device status
// entries change, permission on resourceclaims/driver named after the
// driver: "arbitrary-node-<verb>", or "associated-node-<verb>" for a
// node's service account writing a claim allocated on that node.
func AuthorizedForDeviceStatus(ctx context.Context, path *field.Path, authz authorizer.UnconditionalAuthorizer, status, oldStatus resourcev1.ResourceClaimStatus) field.ErrorList {
	drivers := changedDrivers(status, oldStatus)
	if len(drivers) == 0 {
		return nil
	}
	base, err := filters.GetAuthorizerAttributes(ctx)
	if err != nil {
		return field.ErrorList{field.InternalError(path, fmt.Errorf("cannot build authorizer attributes: %w", err))}
	}
	verb := base.GetVerb()
	verbs := []string{resourcev1.VerbPrefixArbitraryNode + verb}
	if nodeServiceAccountOf(base.GetUser(), allocatedNode(status.Allocation)) {
		verbs = []string{resourcev1.VerbPrefixAssociatedNode + verb, resourcev1.VerbPrefixArbitraryNode + verb}
	}
	var errs field.ErrorList
	for _, driver := range sets.List(drivers) {
		if err := authorizeDriver(ctx, authz, base, verbs, driver); err != nil {
			errs = append(errs, field.Forbidden(path, fmt.Sprintf(`changing status.devices requires resource="resourceclaims/driver", verb="%s" permission: %s`, verbs, err)))
		}
	}
	return errs
}

// authorizeDriver allows the write if any of verbs is allowed.
func authorizeDriver(ctx context.Context, authz authorizer.UnconditionalAuthorizer, base authorizer.Attributes, verbs []string, driver string) error {
	var firstErr error
	for _, verb := range verbs {
		err := authorize(ctx, authz, &subresourceAttributes{
			Attributes:  base,
			verb:        verb,
			subresource: resourcev1.SubresourceDriver,
			namespace:   base.GetNamespace(),
			name:        driver,
		})
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

type deviceKey struct{ driver, pool, device, shareID string }

// changedDrivers are the drivers whose device status entries were added,
// removed or changed.
func changedDrivers(status, oldStatus resourcev1.ResourceClaimStatus) sets.Set[string] {
	key := func(d resourcev1.AllocatedDeviceStatus) deviceKey {
		k := deviceKey{driver: d.Driver, pool: d.Pool, device: d.Device}
		if d.ShareID != nil {
			k.shareID = *d.ShareID
		}
		return k
	}
	old := make(map[deviceKey]resourcev1.AllocatedDeviceStatus, len(oldStatus.Devices))
	for _, d := range oldStatus.Devices {
		old[key(d)] = d
	}
	drivers := sets.New[string]()
	for _, d := range status.Devices {
		k := key(d)
		o, ok := old[k]
		delete(old, k)
		if !ok || !equality.Semantic.DeepEqual(o, d) {
			drivers.Insert(d.Driver)
		}
	}
	for _, d := range old {
		drivers.Insert(d.Driver)
	}
	return drivers
}

// allocatedNode is the node an allocation is limited to, when its node
// selector names exactly one node by metadata.name.
func allocatedNode(allocation *resourcev1.AllocationResult) string {
	if allocation == nil || allocation.NodeSelector == nil || len(allocation.NodeSelector.NodeSelectorTerms) != 1 {
		return ""
	}
	term := allocation.NodeSelector.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 0 || len(term.MatchFields) != 1 {
		return ""
	}
	f := term.MatchFields[0]
	if f.Key != "metadata.name" || f.Operator != corev1.NodeSelectorOpIn || len(f.Values) != 1 {
		return ""
	}
	return f.Values[0]
}

// nodeServiceAccountOf reports whether u is a service account token bound
// to node (its node-name extra).
func nodeServiceAccountOf(u user.Info, node string) bool {
	if node == "" {
		return false
	}
	if _, _, err := serviceaccount.SplitUsername(u.GetName()); err != nil {
		return false
	}
	names := u.GetExtra()[serviceaccount.NodeNameKey]
	if len(names) != 1 || len(corevalidation.ValidateNodeName(names[0], false)) != 0 {
		return false
	}
	return names[0] == node
}

func authorize(ctx context.Context, authz authorizer.UnconditionalAuthorizer, attrs authorizer.Attributes) error {
	decision, reason, err := authz.Authorize(ctx, attrs)
	// An authorizer may allow despite evaluation errors: the decision wins.
	if decision == authorizer.DecisionAllow {
		return nil
	}
	msg := reason
	switch {
	case err != nil && reason != "":
		msg = fmt.Sprintf("%v: %s", err, reason)
	case err != nil:
		msg = err.Error()
	}
	return responsewriters.ForbiddenStatusError(attrs, msg)
}

// subresourceAttributes are the request's attributes with the verb,
// subresource, namespace and name replaced.
type subresourceAttributes struct {
	authorizer.Attributes
	verb, subresource, namespace, name string
}

func (a *subresourceAttributes) GetVerb() string        { return a.verb }
func (a *subresourceAttributes) GetSubresource() string { return a.subresource }
func (a *subresourceAttributes) GetNamespace() string   { return a.namespace }
func (a *subresourceAttributes) GetName() string        { return a.name }
