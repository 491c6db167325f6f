package apiserver

import (
	"context"
	"fmt"
	"sort"

	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/notfoundhandler"
	"k8s.io/client-go/kubernetes"
	flowcontrolclient "k8s.io/client-go/kubernetes/typed/flowcontrol/v1"
	restclient "k8s.io/client-go/rest"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"

	"github.com/skiff-project/skiff/pkg/api/scheme"
	"github.com/skiff-project/skiff/pkg/auth/bootstrappolicy"
	admissionregistrationrest "github.com/skiff-project/skiff/pkg/registry/admissionregistration/rest"
	appsrest "github.com/skiff-project/skiff/pkg/registry/apps/rest"
	authenticationrest "github.com/skiff-project/skiff/pkg/registry/authentication/rest"
	authorizationrest "github.com/skiff-project/skiff/pkg/registry/authorization/rest"
	autoscalingrest "github.com/skiff-project/skiff/pkg/registry/autoscaling/rest"
	batchrest "github.com/skiff-project/skiff/pkg/registry/batch/rest"
	certificatesrest "github.com/skiff-project/skiff/pkg/registry/certificates/rest"
	coordinationrest "github.com/skiff-project/skiff/pkg/registry/coordination/rest"
	corerest "github.com/skiff-project/skiff/pkg/registry/core/rest"
	discoveryrest "github.com/skiff-project/skiff/pkg/registry/discovery/rest"
	eventsrest "github.com/skiff-project/skiff/pkg/registry/events/rest"
	flowcontrolensurer "github.com/skiff-project/skiff/pkg/registry/flowcontrol/ensurer"
	flowcontrolrest "github.com/skiff-project/skiff/pkg/registry/flowcontrol/rest"
	"github.com/skiff-project/skiff/pkg/registry/generic"
	networkingrest "github.com/skiff-project/skiff/pkg/registry/networking/rest"
	noderest "github.com/skiff-project/skiff/pkg/registry/node/rest"
	policyrest "github.com/skiff-project/skiff/pkg/registry/policy/rest"
	rbacrest "github.com/skiff-project/skiff/pkg/registry/rbac/rest"
	resourcerest "github.com/skiff-project/skiff/pkg/registry/resource/rest"
	schedulingrest "github.com/skiff-project/skiff/pkg/registry/scheduling/rest"
	storagerest "github.com/skiff-project/skiff/pkg/registry/storage/rest"
	storagemigrationrest "github.com/skiff-project/skiff/pkg/registry/storagemigration/rest"
)

// groupStorageBuilders build the storage of each non-core group.
var groupStorageBuilders = map[string]func(generic.StorageConfig) (generic.GroupStorage, error){
	admissionregistrationrest.GroupName: admissionregistrationrest.NewStorage,
	appsrest.GroupName:                  appsrest.NewStorage,
	authenticationrest.GroupName:        authenticationrest.NewStorage,
	authorizationrest.GroupName:         authorizationrest.NewStorage,
	autoscalingrest.GroupName:           autoscalingrest.NewStorage,
	batchrest.GroupName:                 batchrest.NewStorage,
	certificatesrest.GroupName:          certificatesrest.NewStorage,
	coordinationrest.GroupName:          coordinationrest.NewStorage,
	discoveryrest.GroupName:             discoveryrest.NewStorage,
	eventsrest.GroupName:                eventsrest.NewStorage,
	flowcontrolrest.GroupName:           flowcontrolrest.NewStorage,
	networkingrest.GroupName:            networkingrest.NewStorage,
	noderest.GroupName:                  noderest.NewStorage,
	policyrest.GroupName:                policyrest.NewStorage,
	rbacrest.GroupName:                  rbacrest.NewStorage,
	resourcerest.GroupName:              resourcerest.NewStorage,
	schedulingrest.GroupName:            schedulingrest.NewStorage,
	storagerest.GroupName:               storagerest.NewStorage,
	storagemigrationrest.GroupName:      storagemigrationrest.NewStorage,
}

// CompletedConfig is a Config with defaults filled in.
type CompletedConfig struct {
	*Config
	generic    genericapiserver.CompletedConfig
	extensions apiextensionsapiserver.CompletedConfig
	aggregator aggregatorapiserver.CompletedConfig
}

// Complete fills in the servers' defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{
		Config:     c,
		generic:    c.Generic.Complete(),
		extensions: c.Extensions.Complete(),
		aggregator: c.Aggregator.Complete(),
	}
}

// Server is skiff's API server: the aggregator in front of the built-in
// APIs, in front of the CustomResourceDefinition server.
type Server struct {
	aggregator *aggregatorapiserver.APIAggregator
}

// LoopbackClientConfig reaches the server as system:masters.
func (s *Server) LoopbackClientConfig() *restclient.Config {
	return s.aggregator.GenericAPIServer.LoopbackClientConfig
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	prepared, err := s.aggregator.PrepareRun()
	if err != nil {
		return err
	}
	return prepared.Run(ctx)
}

// storageConfig is what every group's storage is built from.
func (c CompletedConfig) storageConfig() generic.StorageConfig {
	sc := generic.StorageConfig{
		RESTOptionsGetter:    c.Generic.RESTOptionsGetter,
		EventTTL:             c.Options.EventTTL,
		ServiceIPRange:       c.ServiceIPRange,
		NodePortRange:        c.NodePortRange,
		LoopbackClientConfig: c.Generic.LoopbackClientConfig,
		Authenticator:        c.Generic.Authentication.Authenticator,
		Authorizer:           c.Generic.Authorization.Authorizer,
		APIAudiences:         c.Generic.Authentication.APIAudiences,
		RuleResolver:         c.ruleResolver,
		ProxyTransport:       c.ProxyTransport,
		KubeletClientConfig:  c.KubeletClientConfig,
		ServiceAccountTokens: c.serviceAccountTokenConfig(),
	}
	if c.rbacResolver != nil {
		sc.RBACRoleResolver = c.rbacResolver
	}
	return sc
}

// New creates the API server with every built-in group installed.
func (c CompletedConfig) New() (*Server, error) {
	notFound := notfoundhandler.New(c.Generic.Serializer, genericapifilters.NoMuxAndDiscoveryIncompleteKey)
	extensions, err := c.extensions.New(genericapiserver.NewEmptyDelegateWithCustomHandler(notFound))
	if err != nil {
		return nil, fmt.Errorf("apiextensions server: %w", err)
	}
	generic, err := c.generic.New("skiff-apiserver", extensions.GenericAPIServer)
	if err != nil {
		return nil, err
	}
	sc := c.storageConfig()

	core, err := corerest.NewStorage(sc)
	if err != nil {
		return nil, fmt.Errorf("core storage: %w", err)
	}
	legacy := genericapiserver.NewDefaultAPIGroupInfo(corerest.GroupName, scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
	legacy.VersionedResourcesStorageMap = core
	if err := generic.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &legacy); err != nil {
		return nil, fmt.Errorf("install /api: %w", err)
	}

	groups := make([]string, 0, len(groupStorageBuilders))
	for g := range groupStorageBuilders {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var infos []*genericapiserver.APIGroupInfo
	storages := []groupStorage{core}
	for _, g := range groups {
		storage, err := groupStorageBuilders[g](sc)
		if err != nil {
			return nil, fmt.Errorf("%s storage: %w", g, err)
		}
		storages = append(storages, storage)
		if len(storage) == 0 {
			continue
		}
		info := genericapiserver.NewDefaultAPIGroupInfo(g, scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
		info.VersionedResourcesStorageMap = storage
		infos = append(infos, &info)
	}
	if err := generic.InstallAPIGroups(infos...); err != nil {
		return nil, fmt.Errorf("install /apis: %w", err)
	}

	if err := addStorageHooks(generic, storages); err != nil {
		return nil, err
	}

	generic.AddPostStartHookOrDie("start-skiff-informers", func(ctx genericapiserver.PostStartHookContext) error {
		c.Informers.Start(ctx.Done())
		return nil
	})
	if c.rbacResolver != nil {
		generic.AddPostStartHookOrDie("rbac/bootstrap-roles", func(ctx genericapiserver.PostStartHookContext) error {
			client, err := kubernetes.NewForConfig(ctx.LoopbackClientConfig)
			if err != nil {
				return err
			}
			return bootstrappolicy.Reconcile(ctx, client)
		})
	}
	if c.serviceAccounts != nil && c.serviceAccounts.metadata != nil {
		c.serviceAccounts.metadata.Install(generic.Handler.GoRestfulContainer)
	}
	generic.AddPostStartHookOrDie("priority-and-fairness-config-producer", func(ctx genericapiserver.PostStartHookContext) error {
		client, err := flowcontrolclient.NewForConfig(ctx.LoopbackClientConfig)
		if err != nil {
			return fmt.Errorf("priority and fairness ensurer client: %w", err)
		}
		return flowcontrolensurer.Run(ctx, client)
	})
	generic.AddPostStartHookOrDie("skiff-bootstrap-objects", func(ctx genericapiserver.PostStartHookContext) error {
		client, err := kubernetes.NewForConfig(ctx.LoopbackClientConfig)
		if err != nil {
			return err
		}
		serviceIP, err := firstIP(c.ServiceIPRange)
		if err != nil {
			return err
		}
		b := &bootstrapper{
			client:           client,
			serviceIP:        serviceIP,
			endpointIP:       c.AdvertiseAddress,
			endpointPort:     int32(c.Options.SecurePort),
			clientCAFile:     c.tls.caCert,
			frontProxyCAFile: c.tls.frontProxyCA,
		}
		return b.run(ctx)
	})

	aggregator, err := newAggregator(c.aggregator, generic, extensions.Informers.Apiextensions().V1().CustomResourceDefinitions())
	if err != nil {
		return nil, fmt.Errorf("aggregator: %w", err)
	}
	return &Server{aggregator: aggregator}, nil
}

// groupStorage names generic.GroupStorage where a variable shadows the
// package.
type groupStorage = generic.GroupStorage

// addStorageHooks registers the post-start hooks of the storages that
// provide one (genericapiserver.PostStartHookProvider): the Service
// ClusterIP/NodePort repair loops, the default ServiceCIDR.
func addStorageHooks(s *genericapiserver.GenericAPIServer, groups []groupStorage) error {
	for _, versions := range groups {
		for _, resources := range versions {
			for path, storage := range resources {
				provider, ok := storage.(genericapiserver.PostStartHookProvider)
				if !ok {
					continue
				}
				name, hook, err := provider.PostStartHook()
				if err != nil {
					return fmt.Errorf("post-start hook of %s: %w", path, err)
				}
				if err := s.AddPostStartHook(name, hook); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
