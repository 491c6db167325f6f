package service

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/dryrun"
	"k8s.io/apiserver/pkg/util/proxy"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	clientscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	netutils "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/printers"
	"github.com/skiff-project/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-project/skiff/pkg/registry/core/service/portallocator"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// repairInterval is how often both repair loops run (upstream's
	// default: 3 minutes).
	repairInterval = 3 * time.Minute
	// initialRepairTimeout is how long the post-start hook waits for the
	// first repair before failing the server, as upstream.
	initialRepairTimeout = time.Minute
	// RepairHookName is the post-start hook that starts the repair loops.
	RepairHookName = "start-service-ip-repair-controllers"
)

// Storage holds Services and their subresources.
type Storage struct {
	Service *REST
	Status  *generic.StatusREST
	Proxy   *ProxyREST
}

// REST is the storage of Services. Its post-start hook (PostStartHook)
// starts the informers the allocators read and the repair loops; until it
// has run, creating a Service that needs a ClusterIP fails.
type REST struct {
	*genericregistry.Store
	alloc     *allocators
	primary   corev1.IPFamily
	slices    proxy.EndpointSliceGetter
	pods      func(ctx context.Context, namespace, name string) (*corev1.Pod, error)
	transport http.RoundTripper

	informers  informers.SharedInformerFactory
	ipRepair   *ipallocator.Repair
	portRepair *portallocator.Repair
	broadcast  events.EventBroadcaster
	destroy    func()
}

var (
	_ rest.ShortNamesProvider                = &REST{}
	_ rest.CategoriesProvider                = &REST{}
	_ rest.Redirector                        = &REST{}
	_ genericapiserver.PostStartHookProvider = &REST{}
)

// NewStorage returns the storage of Services. It needs c.LoopbackClientConfig
// (IPAddresses are written through the API), c.ServiceIPRange (its family is
// the cluster's), c.NodePortRange and c.ProxyTransport.
func NewStorage(c generic.StorageConfig) (*Storage, error) {
	if c.LoopbackClientConfig == nil {
		return nil, errors.New("services need a loopback client configuration")
	}
	if c.ServiceIPRange == nil {
		return nil, errors.New("services need a service cluster IP range")
	}
	client, err := kubernetes.NewForConfig(c.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("loopback client: %w", err)
	}
	family := corev1.IPv4Protocol
	if netutils.IsIPv6CIDR(c.ServiceIPRange) {
		family = corev1.IPv6Protocol
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	cidrInformer := factory.Networking().V1().ServiceCIDRs()
	ipInformer := factory.Networking().V1().IPAddresses()
	ipAlloc := ipallocator.New(family, client.NetworkingV1(), cidrInformer, ipInformer)
	portStore, err := portallocator.NewEtcdNodePortStore(c.RESTOptionsGetter)
	if err != nil {
		return nil, err
	}
	slices, err := proxy.NewEndpointSliceIndexerGetter(factory.Discovery().V1().EndpointSlices())
	if err != nil {
		return nil, fmt.Errorf("endpoint slice index: %w", err)
	}

	store := &genericregistry.Store{
		NewFunc:                   func() runtime.Object { return &corev1.Service{} },
		NewListFunc:               func() runtime.Object { return &corev1.ServiceList{} },
		DefaultQualifiedResource:  corev1.Resource("services"),
		SingularQualifiedResource: corev1.Resource("service"),
		ReturnDeletedObject:       true,

		CreateStrategy:      strategy,
		UpdateStrategy:      strategy,
		DeleteStrategy:      strategy,
		ResetFieldsStrategy: strategy,

		TableConvertor: printers.NewTableConvertor(),
	}
	if err := store.CompleteWithOptions(&apigeneric.StoreOptions{RESTOptions: c.RESTOptionsGetter, AttrFunc: getAttrs}); err != nil {
		return nil, err
	}
	// The status store allocates nothing, but a status write that removes
	// the last finalizer deletes the Service, which must release.
	statusStore := *store

	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	r := &REST{
		Store:     store,
		alloc:     &allocators{defaultFamily: family, ips: map[corev1.IPFamily]ipAllocator{family: ipAlloc}, nodePorts: portallocator.New(c.NodePortRange, portStore)},
		primary:   family,
		slices:    slices,
		transport: c.ProxyTransport,
		pods: func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
			return client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		},
		informers: factory,
		ipRepair: ipallocator.NewRepair(repairInterval, client.NetworkingV1(), broadcaster.NewRecorder(clientscheme.Scheme, "ipallocator-repair-controller"),
			factory.Core().V1().Services(), cidrInformer, ipInformer),
		portRepair: portallocator.NewRepair(repairInterval, client.CoreV1(), broadcaster.NewRecorder(clientscheme.Scheme, "portallocator-repair-controller"),
			c.NodePortRange, portStore),
		broadcast: broadcaster,
		destroy:   portStore.Destroy,
	}
	store.Decorator = r.defaultOnRead
	store.BeginCreate = r.beginCreate
	store.BeginUpdate = r.beginUpdate
	store.AfterDelete = r.afterDelete
	statusStore.AfterDelete = r.afterDelete

	return &Storage{
		Service: r,
		Status:  generic.NewStatusREST(&statusStore, statusStrategy),
		Proxy:   &ProxyREST{redirector: r, transport: c.ProxyTransport},
	}, nil
}

// ShortNames are the short names kubectl accepts for services.
func (r *REST) ShortNames() []string { return []string{"svc"} }

// Categories puts services in `kubectl get all`.
func (r *REST) Categories() []string { return []string{"all"} }

// Destroy closes the store and the NodePort bitmap's etcd client.
func (r *REST) Destroy() {
	r.Store.Destroy()
	r.destroy()
}

// PostStartHook starts the informers the allocators read (ServiceCIDRs,
// IPAddresses, Services, EndpointSlices) and the ClusterIP and NodePort
// repair loops. It returns once the first repair of both succeeded (the
// NodePort bitmap exists from then on), failing after a minute as upstream.
func (r *REST) PostStartHook() (string, genericapiserver.PostStartHookFunc, error) {
	return RepairHookName, func(hookCtx genericapiserver.PostStartHookContext) error {
		return r.StartRepair(hookCtx)
	}, nil
}

// StartRepair starts what PostStartHook starts, until ctx ends, and waits
// for the first repair passes.
func (r *REST) StartRepair(ctx context.Context) error {
	r.informers.Start(ctx.Done())
	r.broadcast.StartRecordingToSink(ctx.Done())
	var wg sync.WaitGroup
	wg.Add(2)
	go r.ipRepair.Run(ctx, wg.Done)
	go r.portRepair.Run(ctx, wg.Done)
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		klog.InfoS("Service ClusterIP and NodePort allocations repaired")
		return nil
	case <-ctx.Done():
		return errors.New("unable to perform initial IP and Port allocation check (context cancelled)")
	case <-time.After(initialRepairTimeout):
		return errors.New("unable to perform initial IP and Port allocation check (timeout)")
	}
}

// defaultOnRead completes Services (and lists of them) stored by older
// servers.
func (r *REST) defaultOnRead(obj runtime.Object) {
	switch o := obj.(type) {
	case *corev1.Service:
		defaultOnRead(o, r.primary)
	case *corev1.ServiceList:
		for i := range o.Items {
			defaultOnRead(&o.Items[i], r.primary)
		}
	}
}

func (r *REST) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	svc := obj.(*corev1.Service)
	normalizeClusterIPs(svc, nil)
	txn, err := r.alloc.allocateCreate(ctx, svc, dryrun.IsDryRun(options.DryRun))
	if err != nil {
		return nil, err
	}
	return finish(txn), nil
}

func (r *REST) beginUpdate(ctx context.Context, obj, oldObj runtime.Object, options *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
	svc, oldSvc := obj.(*corev1.Service), oldObj.(*corev1.Service)
	// The Decorator does not run on the old object of an update.
	defaultOnRead(oldSvc, r.primary)
	patchAllocatedValues(svc, oldSvc)
	normalizeClusterIPs(svc, oldSvc)
	txn, err := r.alloc.allocateUpdate(ctx, svc, oldSvc, dryrun.IsDryRun(options.DryRun))
	if err != nil {
		return nil, err
	}
	return finish(txn), nil
}

func finish(txn transaction) genericregistry.FinishFunc {
	return func(_ context.Context, success bool) {
		if success {
			txn.Commit()
		} else {
			txn.Revert()
		}
	}
}

func (r *REST) afterDelete(obj runtime.Object, options *metav1.DeleteOptions) {
	svc := obj.(*corev1.Service)
	defaultOnRead(svc, r.primary)
	if !dryrun.IsDryRun(options.DryRun) {
		r.alloc.releaseAllocatedResources(svc)
	}
}

// ResourceLocation picks a ready endpoint of the Service for the proxy
// subresource. id is "name", "name:port" or "scheme:name:port", where port
// is a port name or number.
func (r *REST) ResourceLocation(ctx context.Context, id string) (*url.URL, http.RoundTripper, error) {
	scheme, name, port, ok := utilnet.SplitSchemeNamePort(id)
	if !ok {
		return nil, nil, apierrors.NewBadRequest(fmt.Sprintf("invalid service request %q", id))
	}
	if number, err := strconv.ParseInt(port, 10, 64); err == nil {
		obj, err := r.Get(ctx, name, &metav1.GetOptions{})
		if err != nil {
			return nil, nil, err
		}
		found := false
		for _, sp := range obj.(*corev1.Service).Spec.Ports {
			if int64(sp.Port) == number {
				port, found = sp.Name, true
				break
			}
		}
		if !found {
			return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no service port %d found for service %q", number, name))
		}
	}
	namespace := genericapirequest.NamespaceValue(ctx)
	if namespace == "" {
		return nil, nil, apierrors.NewBadRequest("missing required namespace")
	}
	slices, err := r.slices.GetEndpointSlices(namespace, name)
	if err != nil {
		return nil, nil, apierrors.NewInternalError(err)
	}
	if len(slices) == 0 {
		return nil, nil, apierrors.NewServiceUnavailable(fmt.Sprintf("no endpoints available for service %q", name))
	}
	hostPort, err := proxy.RandomEndpoint(name, slices, port, r.primary, func(ep *discoveryv1.Endpoint) bool {
		if err := r.isPodEndpoint(ctx, namespace, ep); err != nil {
			klog.V(2).InfoS("Skipping endpoint for the service proxy", "service", klog.KRef(namespace, name), "err", err)
			return false
		}
		return true
	})
	if err != nil {
		return nil, nil, err
	}
	return &url.URL{Scheme: scheme, Host: hostPort}, r.transport, nil
}

// isPodEndpoint accepts only endpoints that are pods of the namespace with
// the endpoint's address, so the proxy cannot be aimed at arbitrary hosts.
func (r *REST) isPodEndpoint(ctx context.Context, namespace string, ep *discoveryv1.Endpoint) error {
	if ep.TargetRef == nil {
		return errors.New("endpoint has no target ref")
	}
	if ep.TargetRef.Namespace != namespace {
		return errors.New("endpoint namespace doesn't match context namespace")
	}
	pod, err := r.pods(ctx, namespace, ep.TargetRef.Name)
	if err != nil {
		return err
	}
	for _, ip := range pod.Status.PodIPs {
		if ip.IP == ep.Addresses[0] {
			return nil
		}
	}
	return fmt.Errorf("pod ip(s) %v don't match endpoint ip %s (%s/%s)", pod.Status.PodIPs, ep.Addresses[0], namespace, pod.Name)
}
