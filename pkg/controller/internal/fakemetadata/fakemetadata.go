// Package fakemetadata is a client-go fake metadata client that deletes the
// way the API server does, for controller tests: finalizers and the
// foreground/orphan propagation policies keep an object (with a
// deletionTimestamp) until its finalizers are removed, delete preconditions
// are checked, and deletecollection works.
package fakemetadata

import (
	"fmt"
	"slices"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	metadatafake "k8s.io/client-go/metadata/fake"
	clienttesting "k8s.io/client-go/testing"
)

// listKind is the list kind the client-go metadata fake registers.
var listKind = schema.GroupVersionKind{Group: "fake-metadata-client-group", Version: "v1"}

// Object is an object to preload: its resource and its metadata (whose
// TypeMeta must be set).
type Object struct {
	Resource schema.GroupVersionResource
	Meta     *metav1.PartialObjectMetadata
}

// Client is the fake client plus a log of the deletions it performed.
type Client struct {
	*metadatafake.FakeMetadataClient
	mu      sync.Mutex
	deleted []string
}

// NewClient returns a fake metadata client holding objects.
func NewClient(objects ...Object) (*Client, error) {
	c := &Client{FakeMetadataClient: metadatafake.NewSimpleMetadataClient(metadatafake.NewTestScheme())}
	tracker := c.Tracker()
	for _, o := range objects {
		if err := tracker.Create(o.Resource, o.Meta, o.Meta.Namespace); err != nil {
			return nil, fmt.Errorf("preload %s %s/%s: %w", o.Resource, o.Meta.Namespace, o.Meta.Name, err)
		}
	}
	c.PrependReactor("delete", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		del := action.(clienttesting.DeleteActionImpl)
		return true, nil, c.deleteObject(del.GetResource(), del.GetNamespace(), del.Name, del.DeleteOptions)
	})
	c.PrependReactor("delete-collection", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		items, err := c.list(action.GetResource(), action.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		for _, item := range items {
			if err := c.deleteObject(action.GetResource(), item.Namespace, item.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return true, nil, err
			}
		}
		return true, nil, nil
	})
	// Removing the last finalizer of an object being deleted deletes it.
	patch := clienttesting.ObjectReaction(tracker)
	c.PrependReactor("patch", "*", func(action clienttesting.Action) (bool, runtime.Object, error) {
		handled, obj, err := patch(action)
		if err != nil || obj == nil {
			return handled, obj, err
		}
		m, ok := obj.(*metav1.PartialObjectMetadata)
		if ok && m.DeletionTimestamp != nil && len(m.Finalizers) == 0 {
			if err := c.remove(action.GetResource(), m); err != nil {
				return true, nil, err
			}
		}
		return handled, obj, err
	})
	return c, nil
}

func (c *Client) list(gvr schema.GroupVersionResource, namespace string) ([]*metav1.PartialObjectMetadata, error) {
	listObj, err := c.Tracker().List(gvr, listKind, namespace)
	if err != nil {
		return nil, err
	}
	objs, err := meta.ExtractList(listObj)
	if err != nil {
		return nil, err
	}
	items := make([]*metav1.PartialObjectMetadata, 0, len(objs))
	for _, o := range objs {
		items = append(items, o.(*metav1.PartialObjectMetadata))
	}
	return items, nil
}

// deleteObject applies the API server's deletion rules.
func (c *Client) deleteObject(gvr schema.GroupVersionResource, namespace, name string, opts metav1.DeleteOptions) error {
	obj, err := c.Tracker().Get(gvr, namespace, name)
	if err != nil {
		return err
	}
	m := obj.(*metav1.PartialObjectMetadata).DeepCopy()
	if p := opts.Preconditions; p != nil {
		if p.UID != nil && *p.UID != m.UID {
			return apierrors.NewConflict(gvr.GroupResource(), name, fmt.Errorf("precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, m.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != m.ResourceVersion {
			return apierrors.NewConflict(gvr.GroupResource(), name, fmt.Errorf("precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, m.ResourceVersion))
		}
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationForeground:
			m.Finalizers = withFinalizer(m.Finalizers, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			m.Finalizers = withFinalizer(m.Finalizers, metav1.FinalizerOrphanDependents)
		}
	}
	if len(m.Finalizers) == 0 {
		return c.remove(gvr, m)
	}
	if m.DeletionTimestamp == nil {
		now := metav1.NewTime(time.Now())
		m.DeletionTimestamp = &now
	}
	return c.Tracker().Update(gvr, m, namespace)
}

func (c *Client) remove(gvr schema.GroupVersionResource, m *metav1.PartialObjectMetadata) error {
	if err := c.Tracker().Delete(gvr, m.Namespace, m.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted = append(c.deleted, m.Namespace+"/"+m.Name)
	return nil
}

func withFinalizer(finalizers []string, f string) []string {
	if slices.Contains(finalizers, f) {
		return finalizers
	}
	return append(finalizers, f)
}

// Deleted lists the objects removed so far ("namespace/name"), in order.
func (c *Client) Deleted() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.deleted)
}

// Get returns the stored metadata of an object, or nil when there is none.
func (c *Client) Get(gvr schema.GroupVersionResource, namespace, name string) *metav1.PartialObjectMetadata {
	obj, err := c.Tracker().Get(gvr, namespace, name)
	if err != nil {
		return nil
	}
	return obj.(*metav1.PartialObjectMetadata)
}

// List returns the stored metadata of a resource in a namespace ("" for
// all).
func (c *Client) List(gvr schema.GroupVersionResource, namespace string) []*metav1.PartialObjectMetadata {
	items, _ := c.list(gvr, namespace)
	return items
}

// NewObject builds preload metadata for a namespaced or cluster-scoped
// object.
func NewObject(gvr schema.GroupVersionResource, kind, namespace, name, uid string) Object {
	return Object{Resource: gvr, Meta: &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: gvr.GroupVersion().String(), Kind: kind},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(uid), ResourceVersion: "1"},
	}}
}
