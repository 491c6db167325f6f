package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/util/retry"
)

// restMappingError: the kind of a reference is not (yet) known to the REST
// mapper, e.g. a custom resource discovery has not shown yet.
type restMappingError struct {
	kind, apiVersion string
}

func (e *restMappingError) Error() string {
	return fmt.Sprintf("unable to get REST mapping for %s/%s", e.apiVersion, e.kind)
}

// errNamespacedOwnerOfClusterScoped: a cluster-scoped object names a
// namespaced owner, which can never exist for it. Retrying does not help.
var errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped objects cannot refer to namespaced owners")

// apiClient does the collector's requests through the metadata client.
type apiClient struct {
	metadataClient metadata.Interface
	restMapper     meta.RESTMapper
}

// resource maps apiVersion and kind to the resource and whether it is
// namespaced.
func (c *apiClient) resource(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gvk := schema.FromAPIVersionAndKind(apiVersion, kind)
	mapping, err := c.restMapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, &restMappingError{kind: kind, apiVersion: apiVersion}
	}
	return mapping.Resource, mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// client returns the metadata client for ref's resource and namespace.
func (c *apiClient) client(ref objectReference) (metadata.ResourceInterface, error) {
	gvr, namespaced, err := c.resource(ref.APIVersion, ref.Kind)
	if err != nil {
		return nil, err
	}
	if !namespaced {
		return c.metadataClient.Resource(gvr).Namespace(""), nil
	}
	if ref.Namespace == "" {
		// Only a cluster-scoped dependent names a namespaced owner
		// without a namespace.
		return nil, errNamespacedOwnerOfClusterScoped
	}
	return c.metadataClient.Resource(gvr).Namespace(ref.Namespace), nil
}

func (c *apiClient) get(ctx context.Context, ref objectReference) (*metav1.PartialObjectMetadata, error) {
	client, err := c.client(ref)
	if err != nil {
		return nil, err
	}
	return client.Get(ctx, ref.Name, metav1.GetOptions{})
}

// delete deletes ref if it still has ref's UID and, when resourceVersion is
// set, is unchanged since the collector decided to delete it. If only
// unrelated fields changed (the owner references did not), it retries
// without the resourceVersion so that busy objects are still collected.
func (c *apiClient) delete(ctx context.Context, ref objectReference, resourceVersion string, ownersAtVersion []metav1.OwnerReference, policy metav1.DeletionPropagation) error {
	client, err := c.client(ref)
	if err != nil {
		return err
	}
	uid := ref.UID
	preconditions := &metav1.Preconditions{UID: &uid}
	if resourceVersion != "" {
		preconditions.ResourceVersion = &resourceVersion
	}
	err = client.Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: preconditions, PropagationPolicy: &policy})
	if !apierrors.IsConflict(err) || resourceVersion == "" {
		return err
	}
	live, getErr := client.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(getErr) {
		return getErr
	}
	if getErr == nil && live.UID == ref.UID && live.ResourceVersion != resourceVersion && reflect.DeepEqual(live.OwnerReferences, ownersAtVersion) {
		return c.delete(ctx, ref, "", nil, policy)
	}
	return err
}

func (c *apiClient) patch(ctx context.Context, ref objectReference, pt types.PatchType, data []byte) (*metav1.PartialObjectMetadata, error) {
	client, err := c.client(ref)
	if err != nil {
		return nil, err
	}
	return client.Patch(ctx, ref.Name, pt, data, metav1.PatchOptions{})
}

// metadataPatch is the body of the collector's patches.
type metadataPatch struct {
	Metadata patchedMetadata `json:"metadata"`
}

type patchedMetadata struct {
	UID             types.UID                `json:"uid,omitempty"`
	ResourceVersion string                   `json:"resourceVersion,omitempty"`
	OwnerReferences *[]metav1.OwnerReference `json:"ownerReferences,omitempty"`
	Finalizers      *[]string                `json:"finalizers,omitempty"`
}

// deleteReferenceDirective is a strategic-merge-patch list item that
// removes the owner reference with that UID.
type deleteReferenceDirective struct {
	Patch string    `json:"$patch"`
	UID   types.UID `json:"uid"`
}

// removeOwnerReferences drops the references to ownerUIDs from ref. The
// strategic merge patch carries ref's UID, so it fails on an object
// recreated under the same name. Custom resources do not take strategic
// merge patches: they get a JSON merge patch of the whole list, guarded by
// the resourceVersion it was computed from.
func (c *apiClient) removeOwnerReferences(ctx context.Context, ref objectReference, ownerUIDs []types.UID) error {
	directives := make([]deleteReferenceDirective, 0, len(ownerUIDs))
	for _, uid := range ownerUIDs {
		directives = append(directives, deleteReferenceDirective{Patch: "delete", UID: uid})
	}
	smp, err := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": directives, "uid": ref.UID}})
	if err != nil {
		return err
	}
	return c.patchWithFallback(ctx, ref, smp, func(live *metav1.PartialObjectMetadata) []metav1.OwnerReference {
		var kept []metav1.OwnerReference
		for _, r := range live.OwnerReferences {
			if !slices.Contains(ownerUIDs, r.UID) {
				kept = append(kept, r)
			}
		}
		return kept
	})
}

// unblockOwnerReferences sets blockOwnerDeletion=false on every blocking
// reference of n, so that n's owners need not wait for it.
func (c *apiClient) unblockOwnerReferences(ctx context.Context, n *node) error {
	id := n.getIdentity()
	notBlocking := false
	var blocking []metav1.OwnerReference
	for _, ref := range n.getOwners() {
		if isBlocking(ref) {
			ref.BlockOwnerDeletion = &notBlocking
			blocking = append(blocking, ref)
		}
	}
	if len(blocking) == 0 {
		// Nothing blocks: an empty list in the patch would remove every
		// owner reference instead.
		return nil
	}
	smp, err := json.Marshal(metadataPatch{Metadata: patchedMetadata{UID: id.UID, OwnerReferences: &blocking}})
	if err != nil {
		return err
	}
	return c.patchWithFallback(ctx, id, smp, func(live *metav1.PartialObjectMetadata) []metav1.OwnerReference {
		refs := make([]metav1.OwnerReference, 0, len(live.OwnerReferences))
		for _, r := range live.OwnerReferences {
			r.BlockOwnerDeletion = &notBlocking
			refs = append(refs, r)
		}
		return refs
	})
}

// patchWithFallback applies a strategic merge patch, or, where the
// resource does not support it (415), a JSON merge patch setting the owner
// references to newRefs(live object).
func (c *apiClient) patchWithFallback(ctx context.Context, ref objectReference, smp []byte, newRefs func(*metav1.PartialObjectMetadata) []metav1.OwnerReference) error {
	_, err := c.patch(ctx, ref, types.StrategicMergePatchType, smp)
	if err == nil || !apierrors.IsUnsupportedMediaType(err) {
		return err
	}
	live, err := c.get(ctx, ref)
	if err != nil {
		return err
	}
	if live.UID != ref.UID {
		return apierrors.NewNotFound(schema.GroupResource{Resource: ref.Kind}, ref.Name)
	}
	refs := newRefs(live)
	// A nil list becomes JSON null, which removes the field.
	body := map[string]any{"metadata": map[string]any{"resourceVersion": live.ResourceVersion, "ownerReferences": refs}}
	jmp, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = c.patch(ctx, ref, types.MergePatchType, jmp)
	return err
}

// removeFinalizer takes finalizer off ref, retrying on conflicts; gone
// objects and finalizers already removed are success.
func (c *apiClient) removeFinalizer(ctx context.Context, ref objectReference, finalizer string) error {
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		live, err := c.get(ctx, ref)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cannot finalize owner %s, because cannot get it: %w. The garbage collector will retry later", ref, err)
		}
		if live.UID != ref.UID || !slices.Contains(live.Finalizers, finalizer) {
			return nil
		}
		var kept []string
		for _, f := range live.Finalizers {
			if f != finalizer {
				kept = append(kept, f)
			}
		}
		body := map[string]any{"metadata": map[string]any{"resourceVersion": live.ResourceVersion, "finalizers": kept}}
		patch, err := json.Marshal(body)
		if err != nil {
			return err
		}
		_, err = c.patch(ctx, ref, types.MergePatchType, patch)
		return err
	})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("updateMaxRetries(%d) has reached. The garbage collector will retry later for owner %v", retry.DefaultBackoff.Steps, ref)
	}
	return err
}
