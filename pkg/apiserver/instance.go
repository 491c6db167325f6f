package apiserver

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/api/scheme"
	corerest "github.com/skiff-project/skiff/pkg/registry/core/rest"
)

// CompletedConfig is a Config with defaults filled in.
type CompletedConfig struct {
	*Config
	generic genericapiserver.CompletedConfig
}

// Complete fills in the generic server's defaults.
func (c *Config) Complete() CompletedConfig {
	return CompletedConfig{Config: c, generic: c.Generic.Complete()}
}

// Server is skiff's API server.
type Server struct {
	*genericapiserver.GenericAPIServer
}

// New creates the API server with every built-in group installed.
func (c CompletedConfig) New() (*Server, error) {
	generic, err := c.generic.New("skiff-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	s := &Server{GenericAPIServer: generic}
	optsGetter := c.Generic.RESTOptionsGetter

	core, err := corerest.NewStorage(corerest.Config{RESTOptionsGetter: optsGetter})
	if err != nil {
		return nil, fmt.Errorf("core storage: %w", err)
	}
	legacy := genericapiserver.NewDefaultAPIGroupInfo("", scheme.Scheme, scheme.ParameterCodec, scheme.Codecs)
	legacy.VersionedResourcesStorageMap["v1"] = core
	if err := generic.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, &legacy); err != nil {
		return nil, fmt.Errorf("install /api: %w", err)
	}

	generic.AddPostStartHookOrDie("start-skiff-informers", func(ctx genericapiserver.PostStartHookContext) error {
		c.Informers.Start(ctx.Done())
		return nil
	})
	generic.AddPostStartHookOrDie("skiff-bootstrap-objects", func(ctx genericapiserver.PostStartHookContext) error {
		return bootstrapObjects(ctx, ctx.LoopbackClientConfig)
	})
	return s, nil
}

var _ = metav1.Now
var _ rest.Storage = nil
