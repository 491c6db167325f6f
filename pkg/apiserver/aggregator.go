package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	apiextensionsinformers "k8s.io/apiextensions-apiserver/pkg/client/informers/externalversions/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/healthz"
	"k8s.io/client-go/tools/cache"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	apiregistrationv1helper "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1/helper"
	apiregistrationv1beta1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1beta1"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	aggregatorscheme "k8s.io/kube-aggregator/pkg/apiserver/scheme"
	apiregistrationclient "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/typed/apiregistration/v1"
	apiregistrationinformers "k8s.io/kube-aggregator/pkg/client/informers/externalversions/apiregistration/v1"
	"k8s.io/kube-aggregator/pkg/controllers/autoregister"
)

// apiServicePriority orders groups and versions in discovery, as upstream's
// APIService objects for built-in groups do.
type apiServicePriority struct {
	group, version int32
}

// builtinAPIServicePriorities are upstream v1.37's priorities for the group
// versions skiff serves.
var builtinAPIServicePriorities = map[schema.GroupVersion]apiServicePriority{
	{Group: "", Version: "v1"}:                             {18000, 1},
	{Group: "events.k8s.io", Version: "v1"}:                {17750, 15},
	{Group: "authentication.k8s.io", Version: "v1"}:        {17700, 15},
	{Group: "authorization.k8s.io", Version: "v1"}:         {17600, 15},
	{Group: "certificates.k8s.io", Version: "v1"}:          {17300, 15},
	{Group: "rbac.authorization.k8s.io", Version: "v1"}:    {17000, 15},
	{Group: "apiextensions.k8s.io", Version: "v1"}:         {16700, 15},
	{Group: "admissionregistration.k8s.io", Version: "v1"}: {16700, 15},
	{Group: "coordination.k8s.io", Version: "v1"}:          {16500, 15},
	{Group: "discovery.k8s.io", Version: "v1"}:             {16200, 15},
	{Group: "flowcontrol.apiserver.k8s.io", Version: "v1"}: {16100, 21},
	{Group: "storagemigration.k8s.io", Version: "v1"}:      {15800, 15},
	{Group: "apps", Version: "v1"}:                         {17800, 15},
	{Group: "autoscaling", Version: "v1"}:                  {17500, 15},
	{Group: "autoscaling", Version: "v2"}:                  {17500, 30},
	{Group: "batch", Version: "v1"}:                        {17400, 15},
	{Group: "networking.k8s.io", Version: "v1"}:            {17200, 15},
	{Group: "policy", Version: "v1"}:                       {17100, 15},
	{Group: "storage.k8s.io", Version: "v1"}:               {16800, 15},
	{Group: "scheduling.k8s.io", Version: "v1"}:            {16600, 15},
	{Group: "node.k8s.io", Version: "v1"}:                  {16300, 15},
	{Group: "resource.k8s.io", Version: "v1"}:              {16200, 21},
}

// newAggregatorConfig configures kube-aggregator, last in the chain: it
// serves APIServices and proxies to extension API servers.
func (c *Config) newAggregatorConfig(serviceResolver aggregatorapiserver.ServiceResolver) (*aggregatorapiserver.Config, error) {
	generic := c.Generic.Config
	generic.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	generic.RESTOptionsGetter = nil
	// The aggregator merges the OpenAPI of everything behind it instead.
	generic.SkipOpenAPIInstallation = true

	etcdOpts := *c.etcdOptions
	etcdOpts.StorageConfig.Codec = aggregatorscheme.Codecs.LegacyCodec(apiregistrationv1.SchemeGroupVersion, apiregistrationv1beta1.SchemeGroupVersion)
	etcdOpts.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(apiregistrationv1.SchemeGroupVersion, schema.GroupKind{Group: apiregistrationv1beta1.GroupName})
	etcdOpts.SkipHealthEndpoints = true
	if err := etcdOpts.ApplyTo(&generic); err != nil {
		return nil, fmt.Errorf("aggregator storage: %w", err)
	}
	generic.MergedResourceConfig = aggregatorapiserver.DefaultAPIResourceConfigSource()

	return &aggregatorapiserver.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{
			Config:                generic,
			SharedInformerFactory: c.Informers,
		},
		ExtraConfig: aggregatorapiserver.ExtraConfig{
			ProxyClientCertFile: c.frontProxyClientCert,
			ProxyClientKeyFile:  c.frontProxyClientKey,
			ServiceResolver:     serviceResolver,
			ProxyTransport:      c.ProxyTransport,
		},
	}, nil
}

// newAggregator creates the aggregator in front of delegate, registering an
// APIService for every built-in group version and every CRD version.
func newAggregator(config aggregatorapiserver.CompletedConfig, delegate genericapiserver.DelegationTarget, crds apiextensionsinformers.CustomResourceDefinitionInformer) (*aggregatorapiserver.APIAggregator, error) {
	aggregator, err := config.NewWithDelegate(delegate)
	if err != nil {
		return nil, err
	}
	client, err := apiregistrationclient.NewForConfig(config.GenericConfig.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	apiServiceInformer := aggregator.APIRegistrationInformers.Apiregistration().V1().APIServices()
	autoRegistration := autoregister.NewAutoRegisterController(apiServiceInformer, client)
	builtin := registerBuiltinAPIServices(delegate, autoRegistration)
	crdRegistration := newCRDRegistrationController(crds, autoRegistration)

	if m := config.GenericConfig.AggregatedDiscoveryGroupManager; m != nil {
		for gv, p := range builtinAPIServicePriorities {
			m.SetGroupVersionPriority(metav1.GroupVersion(gv), int(p.group), int(p.version))
		}
	}
	err = aggregator.GenericAPIServer.AddPostStartHook("kube-apiserver-autoregistration", func(ctx genericapiserver.PostStartHookContext) error {
		go crdRegistration.Run(ctx, 2)
		go func() {
			crdRegistration.WaitForInitialSync(ctx)
			autoRegistration.Run(2, ctx.Done())
		}()
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := aggregator.GenericAPIServer.AddBootSequenceHealthChecks(apiServicesAvailableCheck("autoregister-completion", builtin, apiServiceInformer)); err != nil {
		return nil, err
	}
	return aggregator, nil
}

// registerBuiltinAPIServices queues a local APIService for every group
// version the servers behind the aggregator install.
func registerBuiltinAPIServices(delegate genericapiserver.DelegationTarget, registration autoregister.AutoAPIServiceRegistration) []*apiregistrationv1.APIService {
	var out []*apiregistrationv1.APIService
	for _, path := range delegate.ListedPaths() {
		var gv schema.GroupVersion
		switch {
		case path == "/api/v1":
			gv = schema.GroupVersion{Version: "v1"}
		case strings.HasPrefix(path, "/apis/"):
			parts := strings.Split(path, "/")
			if len(parts) != 4 {
				continue
			}
			gv = schema.GroupVersion{Group: parts[2], Version: parts[3]}
		default:
			continue
		}
		p, ok := builtinAPIServicePriorities[gv]
		if !ok {
			continue
		}
		svc := &apiregistrationv1.APIService{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Version + "." + gv.Group},
			Spec: apiregistrationv1.APIServiceSpec{
				Group:                gv.Group,
				Version:              gv.Version,
				GroupPriorityMinimum: p.group,
				VersionPriority:      p.version,
			},
		}
		registration.AddAPIServiceToSyncOnStart(svc)
		out = append(out, svc)
	}
	return out
}

// apiServicesAvailableCheck fails until every built-in APIService is
// Available, so /readyz waits for discovery to be complete.
func apiServicesAvailableCheck(name string, services []*apiregistrationv1.APIService, informer apiregistrationinformers.APIServiceInformer) healthz.HealthChecker {
	var mu sync.RWMutex
	pending := sets.New[string]()
	for _, s := range services {
		pending.Insert(s.Name)
	}
	update := func(obj interface{}) {
		s, ok := obj.(*apiregistrationv1.APIService)
		if !ok || !apiregistrationv1helper.IsAPIServiceConditionTrue(s, apiregistrationv1.Available) {
			return
		}
		mu.Lock()
		pending.Delete(s.Name)
		mu.Unlock()
	}
	_, _ = informer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    update,
		UpdateFunc: func(_, obj interface{}) { update(obj) },
	})
	return healthz.NamedCheck(name, func(*http.Request) error {
		mu.RLock()
		defer mu.RUnlock()
		if pending.Len() > 0 {
			return fmt.Errorf("missing APIService: %v", sets.List(pending))
		}
		return nil
	})
}
