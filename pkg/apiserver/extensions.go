package apiserver

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsv1beta1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1beta1"
	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	apiextensionsoptions "k8s.io/apiextensions-apiserver/pkg/cmd/server/options"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/util/webhook"
)

// newExtensionsConfig configures the CustomResourceDefinition server
// (k8s.io/apiextensions-apiserver), first in the delegation chain. It shares
// the main server's generic configuration except storage and hooks.
func (c *Config) newExtensionsConfig(serviceResolver webhook.ServiceResolver, authResolver webhook.AuthenticationInfoResolverWrapper) (*apiextensionsapiserver.Config, error) {
	generic := c.Generic.Config
	generic.PostStartHooks = map[string]genericapiserver.PostStartHookConfigEntry{}
	generic.RESTOptionsGetter = nil

	etcdOpts := *c.etcdOptions
	// Upstream stores CRDs as v1beta1, the more compact form.
	etcdOpts.StorageConfig.Codec = apiextensionsapiserver.Codecs.LegacyCodec(apiextensionsv1beta1.SchemeGroupVersion, apiextensionsv1.SchemeGroupVersion)
	etcdOpts.StorageConfig.EncodeVersioner = runtime.NewMultiGroupVersioner(apiextensionsv1beta1.SchemeGroupVersion, schema.GroupKind{Group: apiextensionsv1beta1.GroupName})
	etcdOpts.SkipHealthEndpoints = true
	if err := etcdOpts.ApplyTo(&generic); err != nil {
		return nil, fmt.Errorf("apiextensions storage: %w", err)
	}
	generic.MergedResourceConfig = apiextensionsapiserver.DefaultAPIResourceConfigSource()

	return &apiextensionsapiserver.Config{
		GenericConfig: &genericapiserver.RecommendedConfig{
			Config:                generic,
			SharedInformerFactory: c.Informers,
		},
		ExtraConfig: apiextensionsapiserver.ExtraConfig{
			CRDRESTOptionsGetter: apiextensionsoptions.NewCRDRESTOptionsGetter(etcdOpts, generic.ResourceTransformers, generic.StorageObjectCountTracker),
			MasterCount:          1,
			AuthResolverWrapper:  authResolver,
			ServiceResolver:      serviceResolver,
		},
	}, nil
}
