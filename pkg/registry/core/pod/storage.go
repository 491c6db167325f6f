package pod

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/kubernetes"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Storage holds pods, their subresources and the core bindings resource.
type Storage struct {
	Pod                 *REST
	Status              *generic.StatusREST
	Binding             *BindingREST
	LegacyBinding       *LegacyBindingREST
	Eviction            *EvictionREST
	EphemeralContainers *SpecSubresourceREST
	Resize              *SpecSubresourceREST
	Log                 *LogREST
	Exec                *ExecREST
	Attach              *AttachREST
	PortForward         *PortForwardREST
	Proxy               *ProxyREST
}

// REST is the storage of pods.
type REST struct {
	*genericregistry.Store
	proxyTransport http.RoundTripper
}

var (
	_ rest.ShortNamesProvider = &REST{}
	_ rest.CategoriesProvider = &REST{}
	_ rest.Redirector         = &REST{}
)

// NewStorage returns the storage of pods. Nodes (for the kubelet's address)
// and PodDisruptionBudgets (for evictions) are read through the loopback
// client, like any other client would.
func NewStorage(c generic.StorageConfig) (*Storage, error) {
	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Pod{} },
		NewListFunc:               func() runtime.Object { return &corev1.PodList{} },
		PredicateFunc:             matchPod,
		DefaultQualifiedResource:  corev1.Resource("pods"),
		SingularQualifiedResource: corev1.Resource("pod"),

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,
		ReturnDeletedObject: true,

		TableConvertor: printers.NewTableConvertor(),
	}
	options := &apigeneric.StoreOptions{
		RESTOptions: c.RESTOptionsGetter,
		AttrFunc:    getAttrs,
		TriggerFunc: map[string]storage.IndexerFunc{"spec.nodeName": nodeNameTrigger},
		Indexers:    indexers(),
	}
	if err := store.CompleteWithOptions(options); err != nil {
		return nil, err
	}

	var client kubernetes.Interface
	if c.LoopbackClientConfig != nil {
		cs, err := kubernetes.NewForConfig(c.LoopbackClientConfig)
		if err != nil {
			return nil, fmt.Errorf("loopback client for pods: %w", err)
		}
		client = cs
	}
	kubelet := newKubeletLocator(client, c.KubeletClientConfig)

	// The eviction adds its DisruptionTarget condition through /status.
	statusStore := *store
	statusStore.UpdateStrategy = statusStrategy
	statusStore.ResetFieldsStrategy = statusStrategy
	var eviction *EvictionREST
	if client != nil {
		eviction = newEvictionREST(&statusStore, client.PolicyV1())
	} else {
		eviction = newEvictionREST(&statusStore, nil)
	}

	binding := &BindingREST{store: store}
	stream := streamREST{store: store, kubelet: kubelet, authorizer: c.Authorizer}
	return &Storage{
		Pod:                 &REST{Store: store, proxyTransport: c.ProxyTransport},
		Status:              generic.NewStatusREST(store, statusStrategy),
		Binding:             binding,
		LegacyBinding:       &LegacyBindingREST{binding: binding},
		Eviction:            eviction,
		EphemeralContainers: newSpecSubresourceREST(store, ephemeralContainersStrategy),
		Resize:              newSpecSubresourceREST(store, resizeStrategy),
		Log:                 &LogREST{store: store, kubelet: kubelet},
		Exec:                &ExecREST{stream},
		Attach:              &AttachREST{stream},
		PortForward:         &PortForwardREST{stream},
		Proxy:               &ProxyREST{store: store, transport: c.ProxyTransport},
	}, nil
}

// ShortNames are the short names kubectl accepts for pods.
func (r *REST) ShortNames() []string { return []string{"po"} }

// Categories puts pods into `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// ResourceLocation is where the legacy proxy sends traffic for a pod
// ("name", "name:port" or "scheme:name:port").
func (r *REST) ResourceLocation(ctx context.Context, id string) (*url.URL, http.RoundTripper, error) {
	return podLocation(ctx, r.Store, r.proxyTransport, id)
}

// SpecSubresourceREST is a get/update/patch subresource that changes part
// of the pod's spec (ephemeralcontainers, resize). Its strategy decides
// which part; as upstream, it reports no reset fields.
type SpecSubresourceREST struct {
	store *genericregistry.Store
}

var _ rest.Patcher = &SpecSubresourceREST{}

func newSpecSubresourceREST(parent *genericregistry.Store, s rest.RESTUpdateStrategy) *SpecSubresourceREST {
	store := *parent
	store.UpdateStrategy = s
	return &SpecSubresourceREST{store: &store}
}

// New returns an empty pod.
func (r *SpecSubresourceREST) New() runtime.Object { return &corev1.Pod{} }

// Destroy does nothing: the pods store owns the storage.
func (r *SpecSubresourceREST) Destroy() {}

// Get returns the pod (patches start from it).
func (r *SpecSubresourceREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return r.store.Get(ctx, name, options)
}

// Update writes the subresource's part of the pod; it never creates one.
func (r *SpecSubresourceREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return r.store.Update(ctx, name, objInfo, createValidation, updateValidation, false, options)
}
