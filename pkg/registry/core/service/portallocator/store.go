package portallocator

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"
)

// RangeStore keeps the one RangeAllocation object that records the taken
// ports. Every change is a compare-and-swap, so API servers sharing an etcd
// never hand out the same port twice.
type RangeStore interface {
	// Get returns the stored allocation; its ResourceVersion is empty when
	// nothing has been stored yet.
	Get(ctx context.Context) (*corev1.RangeAllocation, error)
	// Update reads the stored allocation (empty ResourceVersion when
	// missing), passes it to tryUpdate and writes the result if nothing
	// changed in between, retrying tryUpdate on a conflict.
	Update(ctx context.Context, tryUpdate func(existing *corev1.RangeAllocation) (*corev1.RangeAllocation, error)) error
}

// NodePortAllocationsResource is the resource upstream's storage
// configuration knows the NodePort bitmap as.
var NodePortAllocationsResource = schema.GroupResource{Resource: "servicenodeportallocations"}

// nodePortsKey is upstream's etcd key for the NodePort bitmap (under the
// storage prefix).
const nodePortsKey = "/ranges/servicenodeports"

// EtcdRangeStore is a RangeStore in etcd at upstream's key.
type EtcdRangeStore struct {
	storage  storage.Interface
	key      string
	resource schema.GroupResource
	destroy  func()
	once     sync.Once
}

var _ RangeStore = &EtcdRangeStore{}

// NewEtcdNodePortStore returns the store of the NodePort bitmap, at upstream's
// key so that data written by kube-apiserver is read unchanged.
func NewEtcdNodePortStore(optsGetter generic.RESTOptionsGetter) (*EtcdRangeStore, error) {
	opts, err := optsGetter.GetRESTOptions(NodePortAllocationsResource, &corev1.RangeAllocation{})
	if err != nil {
		return nil, fmt.Errorf("storage options for %s: %w", NodePortAllocationsResource, err)
	}
	s, destroy, err := generic.NewRawStorage(opts.StorageConfig, nil, nil, nodePortsKey)
	if err != nil {
		return nil, fmt.Errorf("storage for %s: %w", NodePortAllocationsResource, err)
	}
	return &EtcdRangeStore{storage: s, key: nodePortsKey, resource: NodePortAllocationsResource, destroy: destroy}, nil
}

// Get returns the stored allocation, or an empty one.
func (s *EtcdRangeStore) Get(ctx context.Context) (*corev1.RangeAllocation, error) {
	out := &corev1.RangeAllocation{}
	if err := s.storage.Get(ctx, s.key, storage.GetOptions{IgnoreNotFound: true}, out); err != nil {
		return nil, storeerr.InterpretGetError(err, s.resource, "")
	}
	return out, nil
}

// Update is a GuaranteedUpdate of the allocation.
func (s *EtcdRangeStore) Update(ctx context.Context, tryUpdate func(existing *corev1.RangeAllocation) (*corev1.RangeAllocation, error)) error {
	err := s.storage.GuaranteedUpdate(ctx, s.key, &corev1.RangeAllocation{}, true, nil,
		storage.SimpleUpdate(func(in runtime.Object) (runtime.Object, error) {
			existing, ok := in.(*corev1.RangeAllocation)
			if !ok {
				return nil, fmt.Errorf("stored %s is a %T, not a RangeAllocation", s.resource, in)
			}
			return tryUpdate(existing)
		}), nil)
	return storeerr.InterpretUpdateError(err, s.resource, "")
}

// Destroy closes the etcd client.
func (s *EtcdRangeStore) Destroy() {
	s.once.Do(s.destroy)
}
