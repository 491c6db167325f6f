package event

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/skiff-project/skiff/pkg/printers"
)

// REST is the storage of events.k8s.io events.
type REST struct {
	*genericregistry.Store
}

var _ rest.ShortNamesProvider = &REST{}

// NewREST returns the storage of events.k8s.io/v1 events. Every write sets
// the event's etcd lease to ttl, after which etcd deletes it.
func NewREST(optsGetter generic.RESTOptionsGetter, ttl time.Duration) (*REST, error) {
	ttlSeconds := uint64(ttl.Seconds())
	store := &genericregistry.Store{
		NewFunc:     func() runtime.Object { return &corev1.Event{} },
		NewListFunc: func() runtime.Object { return &corev1.EventList{} },
		// The core resource, as upstream: the storage factory then gives
		// both event APIs the same etcd prefix and storage codec. (Error
		// messages still name the resource of the request.)
		DefaultQualifiedResource:  corev1.Resource("events"),
		SingularQualifiedResource: corev1.Resource("event"),

		TTLFunc: func(runtime.Object, uint64, bool) (uint64, error) {
			return ttlSeconds, nil
		},

		CreateStrategy: strategy,
		UpdateStrategy: strategy,
		DeleteStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&generic.StoreOptions{RESTOptions: optsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	return &REST{store}, nil
}

// ShortNames are the short names kubectl accepts for events.
func (r *REST) ShortNames() []string { return []string{"ev"} }
