package controllermanager

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/controller-manager/pkg/clientbuilder"
	"k8s.io/klog/v2"
)

// ControllerContext is what every controller is started with.
type ControllerContext struct {
	Options *Options
	// Config is the base client configuration; ClientFor gives each
	// controller a client that identifies it in the API server's logs.
	Config *restclient.Config
	// InformerFactory and MetadataInformers are shared by all controllers
	// and started after every controller registered its informers.
	InformerFactory   informers.SharedInformerFactory
	MetadataInformers metadatainformer.SharedInformerFactory
	// RESTMapper maps kinds to resources from discovery; reset periodically.
	RESTMapper *restmapper.DeferredDiscoveryRESTMapper
	Discovery  discovery.CachedDiscoveryInterface

	// serviceAccounts, with --use-service-account-credentials, gives each
	// controller the credentials of its service account in kube-system.
	serviceAccounts clientbuilder.ControllerClientBuilder
}

// ConfigFor returns the client configuration of the controller whose
// service account is name (upstream's names, e.g. "namespace-controller"):
// with --use-service-account-credentials it authenticates as that service
// account (and so has the system:controller:<name> role), otherwise as the
// controller-manager. The user agent names the controller.
func (c ControllerContext) ConfigFor(name string) *restclient.Config {
	cfg := restclient.CopyConfig(c.Config)
	if c.serviceAccounts != nil {
		saConfig, err := c.serviceAccounts.Config(name)
		if err != nil {
			// Without its own credentials the controller runs with the
			// controller-manager's, and its requests are likely refused.
			klog.ErrorS(err, "Cannot get service-account credentials for a controller; using the controller-manager's", "controller", name)
		} else {
			cfg = saConfig
		}
	}
	return restclient.AddUserAgent(cfg, "skiff-controller-manager/"+name)
}

// ClientFor returns a clientset for the controller (see ConfigFor).
func (c ControllerContext) ClientFor(name string) (kubernetes.Interface, error) {
	return kubernetes.NewForConfig(c.ConfigFor(name))
}

// DynamicClientFor returns a dynamic client for the controller.
func (c ControllerContext) DynamicClientFor(name string) (dynamic.Interface, error) {
	return dynamic.NewForConfig(c.ConfigFor(name))
}

// MetadataClientFor returns a metadata-only client for the controller.
func (c ControllerContext) MetadataClientFor(name string) (metadata.Interface, error) {
	return metadata.NewForConfig(c.ConfigFor(name))
}

// Controller is one controller the manager can run.
type Controller struct {
	// OnByDefault is whether "*" includes it.
	OnByDefault bool
	// Aliases are older names --controllers also accepts (upstream's).
	Aliases []string
	// Start registers the controller's informers and starts its workers in
	// goroutines that stop with ctx. It must not block.
	Start func(ctx context.Context, cc ControllerContext) error
}

// KnownControllers lists the names of the given controllers, sorted.
func KnownControllers(controllers map[string]Controller) []string {
	names := make([]string, 0, len(controllers))
	for n := range controllers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs the enabled controllers until ctx ends, after taking the
// leader-election Lease when o.LeaderElect is set.
func Run(ctx context.Context, o *Options, controllers map[string]Controller) error {
	o.Complete(controllers)
	if errs := o.Validate(KnownControllers(controllers)); len(errs) > 0 {
		return fmt.Errorf("invalid options: %v", errs)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", o.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if !o.LeaderElect {
		return runControllers(ctx, o, cfg, controllers)
	}
	client, err := kubernetes.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(cfg), "skiff-controller-manager/leader-election"))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-controller-manager"},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())},
	}
	errCh := make(chan error, 1)
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   o.LeaseDuration,
		RenewDeadline:   o.RenewDeadline,
		RetryPeriod:     o.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            "kube-controller-manager",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				errCh <- runControllers(ctx, o, cfg, controllers)
			},
			OnStoppedLeading: func() {
				klog.InfoS("Lost the controller-manager lease")
			},
		},
	})
	select {
	case err := <-errCh:
		return err
	default:
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("leader election lost")
	}
}

func runControllers(ctx context.Context, o *Options, cfg *restclient.Config, controllers map[string]Controller) error {
	client, err := kubernetes.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(cfg), "skiff-controller-manager/shared-informers"))
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(cfg), "skiff-controller-manager/shared-informers"))
	if err != nil {
		return err
	}
	cachedDiscovery := memory.NewMemCacheClient(client.Discovery())
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cachedDiscovery)
	cc := ControllerContext{
		Options:           o,
		Config:            cfg,
		InformerFactory:   informers.NewSharedInformerFactory(client, o.ResyncPeriod),
		MetadataInformers: metadatainformer.NewSharedInformerFactory(metadataClient, o.ResyncPeriod),
		RESTMapper:        mapper,
		Discovery:         cachedDiscovery,
	}
	if o.UseServiceAccountCredentials {
		// Service accounts live in kube-system; their tokens come from the
		// TokenRequest API and are refreshed before they expire.
		// The builder adds a token: the client certificate must go.
		cc.serviceAccounts = clientbuilder.NewDynamicClientBuilder(restclient.AnonymousClientConfig(cfg), client.CoreV1(), metav1.NamespaceSystem)
	}
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				mapper.Reset()
			}
		}
	}()
	var started []string
	for _, name := range KnownControllers(controllers) {
		c := controllers[name]
		if !o.enabled(name, c.OnByDefault) {
			continue
		}
		if err := c.Start(ctx, cc); err != nil {
			return fmt.Errorf("start controller %s: %w", name, err)
		}
		started = append(started, name)
	}
	cc.InformerFactory.Start(ctx.Done())
	cc.MetadataInformers.Start(ctx.Done())
	klog.InfoS("Controllers started", "controllers", started)
	<-ctx.Done()
	cc.InformerFactory.Shutdown()
	cc.MetadataInformers.Shutdown()
	return nil
}
