package generic

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// SubresourceStrategy is what a subresource's writes go through.
type SubresourceStrategy interface {
	rest.RESTUpdateStrategy
	rest.ResetFieldsStrategy
}

// UpdateREST is a subresource that only accepts updates of the whole parent
// object (namespaces/finalize). Writes go through a copy of the parent's
// store with the subresource's own strategy, so the strategy decides which
// part of the object may change.
type UpdateREST struct {
	store *genericregistry.Store
}

// NewUpdateREST returns an update-only subresource of parent.
func NewUpdateREST(parent *genericregistry.Store, strategy SubresourceStrategy) *UpdateREST {
	s := *parent
	s.UpdateStrategy = strategy
	s.ResetFieldsStrategy = strategy
	return &UpdateREST{store: &s}
}

// New returns an empty parent object.
func (r *UpdateREST) New() runtime.Object { return r.store.New() }

// Destroy does nothing: the parent store owns the storage.
func (r *UpdateREST) Destroy() {}

// Update writes the subresource. It never creates the parent.
func (r *UpdateREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}

// GetResetFields are the fields server-side apply must not take from the
// subresource's request.
func (r *UpdateREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}

// StatusREST is a get/update/patch subresource (status, and others shaped
// like it) backed by the parent's store.
type StatusREST struct {
	UpdateREST
}

// NewStatusREST returns a status-like subresource of parent.
func NewStatusREST(parent *genericregistry.Store, strategy SubresourceStrategy) *StatusREST {
	return &StatusREST{UpdateREST: *NewUpdateREST(parent, strategy)}
}

// Get returns the parent object.
func (r *StatusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// ConvertToTable prints the parent object.
func (r *StatusREST) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, tableOptions)
}

// StatusResetFields are the reset fields of a main resource whose status is
// written only through /status.
func StatusResetFields(versions ...string) map[fieldpath.APIVersion]*fieldpath.Set {
	return resetFields("status", versions)
}

// SpecResetFields are the reset fields of a /status subresource: its writes
// never change the spec.
func SpecResetFields(versions ...string) map[fieldpath.APIVersion]*fieldpath.Set {
	return resetFields("spec", versions)
}

func resetFields(path string, versions []string) map[fieldpath.APIVersion]*fieldpath.Set {
	out := make(map[fieldpath.APIVersion]*fieldpath.Set, len(versions))
	for _, v := range versions {
		out[fieldpath.APIVersion(v)] = fieldpath.NewSet(fieldpath.MakePathOrDie(path))
	}
	return out
}
