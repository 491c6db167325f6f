// Package rbac holds what the storages of the rbac.authorization.k8s.io
// resources share: the hook that prevents privilege escalation.
//
// Upstream refuses a Role or ClusterRole that grants permissions the writer
// does not hold, and a binding to a role whose permissions the writer does
// not hold (unless the writer may "escalate" or "bind"). That check needs the
// RBAC authorizer and its rule resolver; the storages take it as an
// EscalationChecker (Policy, in policy.go).
package rbac

import (
	"context"
	"reflect"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
)

// EscalationChecker decides whether the requesting user (in ctx) may write
// obj, a Role, ClusterRole, RoleBinding or ClusterRoleBinding (k8s.io/api
// rbac/v1 structs), replacing old (nil on create). It returns nil to allow
// the write, or the error to answer (upstream answers Forbidden) when the
// write would escalate privileges.
//
// The guarded storage calls it only for users outside system:masters and only
// for writes that change more than the garbage collector's fields, as
// upstream does; the checker handles "escalate"/"bind" permissions itself.
type EscalationChecker interface {
	ConfirmNoEscalation(ctx context.Context, obj, old runtime.Object) error
}

// EscalationCheckFunc adapts a function to an EscalationChecker.
type EscalationCheckFunc func(ctx context.Context, obj, old runtime.Object) error

// ConfirmNoEscalation calls f.
func (f EscalationCheckFunc) ConfirmNoEscalation(ctx context.Context, obj, old runtime.Object) error {
	return f(ctx, obj, old)
}

// GuardedStore is an RBAC resource's store whose creates and updates go
// through an EscalationChecker. Everything else is the store's own.
type GuardedStore struct {
	*genericregistry.Store
	checker EscalationChecker
}

// Guard wraps store with checker. With a nil checker writes are not checked.
func Guard(store *genericregistry.Store, checker EscalationChecker) *GuardedStore {
	return &GuardedStore{Store: store, checker: checker}
}

// Create checks the new object before storing it.
func (s *GuardedStore) Create(ctx context.Context, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	if s.checker != nil && !EscalationAllowed(ctx) {
		if err := s.checker.ConfirmNoEscalation(ctx, obj, nil); err != nil {
			return nil, err
		}
	}
	return s.Store.Create(ctx, obj, createValidation, options)
}

// Update checks the updated object (once the patch or update is applied to
// the stored one) before storing it.
func (s *GuardedStore) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	if s.checker == nil || EscalationAllowed(ctx) {
		return s.Store.Update(ctx, name, objInfo, createValidation, updateValidation, forceAllowCreate, options)
	}
	checked := rest.WrapUpdatedObjectInfo(objInfo, func(ctx context.Context, obj, old runtime.Object) (runtime.Object, error) {
		if onlyGCFieldsChanged(obj, old) {
			return obj, nil
		}
		if err := s.checker.ConfirmNoEscalation(ctx, obj, old); err != nil {
			return nil, err
		}
		return obj, nil
	})
	return s.Store.Update(ctx, name, checked, createValidation, updateValidation, forceAllowCreate, options)
}

// EscalationAllowed reports whether the requesting user is in system:masters,
// which may do anything: the API server's own loopback client uses it.
func EscalationAllowed(ctx context.Context) bool {
	u, ok := genericapirequest.UserFrom(ctx)
	if !ok {
		return false
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup {
			return true
		}
	}
	return false
}

// onlyGCFieldsChanged reports whether obj differs from old only in owner
// references, finalizers, selfLink or managed fields: the garbage collector
// must be able to write those without holding the role's permissions.
func onlyGCFieldsChanged(obj, old runtime.Object) bool {
	if old == nil || reflect.ValueOf(old).IsNil() {
		return false
	}
	copied := obj.DeepCopyObject()
	copiedMeta, err := meta.Accessor(copied)
	if err != nil {
		return false
	}
	oldMeta, err := meta.Accessor(old)
	if err != nil {
		return false
	}
	copiedMeta.SetOwnerReferences(oldMeta.GetOwnerReferences())
	copiedMeta.SetFinalizers(oldMeta.GetFinalizers())
	copiedMeta.SetSelfLink(oldMeta.GetSelfLink())
	copiedMeta.SetManagedFields(oldMeta.GetManagedFields())
	return equality.Semantic.DeepEqual(copied, old)
}
