// Package history keeps the ControllerRevisions of StatefulSets and
// DaemonSets: snapshots of their pod templates, named
// "<owner>-<hash>" and numbered by .revision, which `kubectl rollout
// history` and `rollout undo` read.
package history

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"

	"github.com/skiff-project/skiff/pkg/controller"
)

// ControllerRevisionHashLabel labels each revision with its hash.
const ControllerRevisionHashLabel = "controller.kubernetes.io/hash"

// controllerIndex indexes revisions by controller, orphans by namespace.
const controllerIndex = "controllerRevisionController"

// AddControllerIndexer adds the index History uses to an informer (once).
func AddControllerIndexer(informer cache.SharedIndexInformer) error {
	if _, ok := informer.GetIndexer().GetIndexers()[controllerIndex]; ok {
		return nil
	}
	return informer.AddIndexers(cache.Indexers{controllerIndex: func(obj interface{}) ([]string, error) {
		cr, ok := obj.(*appsv1.ControllerRevision)
		if !ok {
			return nil, nil
		}
		return []string{controller.PodControllerIndexKey(cr.Namespace, metav1.GetControllerOfNoCopy(cr))}, nil
	}})
}

// Name is "<prefix>-<hash>", the prefix cut to 223 characters.
func Name(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// NewRevision builds a revision of parent holding data, labelled with the
// template labels and its hash.
func NewRevision(parent metav1.Object, parentKind schema.GroupVersionKind, templateLabels map[string]string, data runtime.RawExtension, revision int64, collisionCount *int32) *appsv1.ControllerRevision {
	l := make(map[string]string, len(templateLabels)+1)
	for k, v := range templateLabels {
		l[k] = v
	}
	cr := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Labels:          l,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(parent, parentKind)},
		},
		Data:     data,
		Revision: revision,
	}
	hash := Hash(cr, collisionCount)
	cr.Name = Name(parent.GetName(), hash)
	cr.Labels[ControllerRevisionHashLabel] = hash
	return cr
}

// Hash is FNV-32 of the revision's data and the collision probe.
func Hash(cr *appsv1.ControllerRevision, probe *int32) string {
	h := fnv.New32()
	if len(cr.Data.Raw) > 0 {
		h.Write(cr.Data.Raw)
	}
	if cr.Data.Object != nil {
		controller.DeepHashObject(h, cr.Data.Object)
	}
	if probe != nil {
		h.Write([]byte(strconv.FormatInt(int64(*probe), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// Sort orders revisions by .revision, then creation time, then name.
func Sort(revisions []*appsv1.ControllerRevision) {
	sort.SliceStable(revisions, func(i, j int) bool {
		a, b := revisions[i], revisions[j]
		if a.Revision == b.Revision {
			if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.Name < b.Name
			}
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Revision < b.Revision
	})
}

// Equal reports whether two revisions hold the same data.
func Equal(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	return bytes.Equal(a.Data.Raw, b.Data.Raw) && apiequality.Semantic.DeepEqual(a.Data.Object, b.Data.Object)
}

// FindEqual returns the revisions whose data equals needle's.
func FindEqual(revisions []*appsv1.ControllerRevision, needle *appsv1.ControllerRevision) []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range revisions {
		if Equal(r, needle) {
			out = append(out, r)
		}
	}
	return out
}

// History reads revisions from an informer and writes them through the API.
type History struct {
	Client  kubernetes.Interface
	Lister  appslisters.ControllerRevisionLister
	Indexer cache.Indexer
}

// List returns the revisions matching selector that parent controls or
// that have no controller.
func (h *History) List(parent metav1.Object, parentKind schema.GroupVersionKind, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	keys := []string{
		controller.PodControllerIndexKey(parent.GetNamespace(), &metav1.OwnerReference{Kind: parentKind.Kind, Name: parent.GetName(), UID: parent.GetUID()}),
		controller.PodControllerIndexKey(parent.GetNamespace(), nil),
	}
	var out []*appsv1.ControllerRevision
	for _, key := range keys {
		objs, err := h.Indexer.ByIndex(controllerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			if cr, ok := obj.(*appsv1.ControllerRevision); ok && selector.Matches(labels.Set(cr.Labels)) {
				out = append(out, cr)
			}
		}
	}
	return out, nil
}

// Create creates revision, bumping collisionCount (which changes the
// name) while a revision of that name with other data exists.
func (h *History) Create(ctx context.Context, parent metav1.Object, revision *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	if collisionCount == nil {
		return nil, fmt.Errorf("collisionCount should not be nil")
	}
	clone := revision.DeepCopy()
	for {
		clone.Name = Name(parent.GetName(), Hash(revision, collisionCount))
		created, err := h.Client.AppsV1().ControllerRevisions(parent.GetNamespace()).Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		existing, err := h.Client.AppsV1().ControllerRevisions(parent.GetNamespace()).Get(ctx, clone.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		if bytes.Equal(existing.Data.Raw, clone.Data.Raw) {
			return existing, nil
		}
		*collisionCount++
	}
}

// UpdateRevision renumbers a revision (a rollback to old data makes it the
// newest again).
func (h *History) UpdateRevision(ctx context.Context, revision *appsv1.ControllerRevision, newRevision int64) (*appsv1.ControllerRevision, error) {
	clone := revision.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if clone.Revision == newRevision {
			return nil
		}
		clone.Revision = newRevision
		updated, err := h.Client.AppsV1().ControllerRevisions(clone.Namespace).Update(ctx, clone, metav1.UpdateOptions{})
		if err == nil {
			clone = updated
			return nil
		}
		if fresh, getErr := h.Lister.ControllerRevisions(clone.Namespace).Get(clone.Name); getErr == nil {
			clone = fresh.DeepCopy()
		}
		return err
	})
	return clone, err
}

// Delete deletes a revision.
func (h *History) Delete(ctx context.Context, revision *appsv1.ControllerRevision) error {
	return h.Client.AppsV1().ControllerRevisions(revision.Namespace).Delete(ctx, revision.Name, metav1.DeleteOptions{})
}

// Patch applies a strategic merge patch (adoption and release).
func (h *History) Patch(ctx context.Context, namespace, name string, patch []byte) error {
	_, err := h.Client.AppsV1().ControllerRevisions(namespace).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}
