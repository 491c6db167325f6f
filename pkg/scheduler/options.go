package scheduler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/config"
)

// ErrLeaderElectionLost is returned by Run when another scheduler took the
// Lease.
var ErrLeaderElectionLost = errors.New("leader election lost")

// Options are the scheduler's command-line settings.
type Options struct {
	// Kubeconfig reaches the API server.
	Kubeconfig string
	// ConfigFile is a KubeSchedulerConfiguration file; empty means
	// upstream's defaults.
	ConfigFile string
	// LeaderElect, KubeAPIQPS and KubeAPIBurst override the config file
	// when their flags are set (as upstream's deprecated flags do).
	LeaderElect  bool
	KubeAPIQPS   float32
	KubeAPIBurst int32

	leaderElectSet, qpsSet, burstSet bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{LeaderElect: true}
}

// AddFlags adds the scheduler's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile, "KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1): profiles, plugins, weights, percentageOfNodesToScore.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Take the Lease kube-system/kube-scheduler before scheduling, so that only one scheduler acts. Overrides the config file.")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", 50, "Queries per second to the API server. Overrides the config file.")
	fs.Int32Var(&o.KubeAPIBurst, "kube-api-burst", 100, "Burst of queries to the API server. Overrides the config file.")
}

// MarkFlagsSet records which overriding flags the user gave.
func (o *Options) MarkFlagsSet(fs *pflag.FlagSet) {
	o.leaderElectSet = fs.Changed("leader-elect")
	o.qpsSet = fs.Changed("kube-api-qps")
	o.burstSet = fs.Changed("kube-api-burst")
}

// SetClientRate sets the client rate limits (for an embedded scheduler
// talking to a local API server).
func (o *Options) SetClientRate(qps float32, burst int32) {
	o.KubeAPIQPS, o.KubeAPIBurst, o.qpsSet, o.burstSet = qps, burst, true, true
}

// Validate checks the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.Kubeconfig == "" {
		errs = append(errs, fmt.Errorf("--kubeconfig is required"))
	}
	return errs
}

func (o *Options) componentConfig() (*configv1.KubeSchedulerConfiguration, error) {
	cfg := config.Default()
	if o.ConfigFile != "" {
		var err error
		if cfg, err = config.Load(o.ConfigFile); err != nil {
			return nil, err
		}
	}
	if o.leaderElectSet || o.ConfigFile == "" {
		cfg.LeaderElection.LeaderElect = &o.LeaderElect
	}
	if o.qpsSet {
		cfg.ClientConnection.QPS = o.KubeAPIQPS
	}
	if o.burstSet {
		cfg.ClientConnection.Burst = o.KubeAPIBurst
	}
	return cfg, nil
}

// Run runs the scheduler until ctx ends, after taking the leader-election
// Lease when enabled. onStart, if set, is called with the scheduler once
// it schedules (benchmarks and tests).
func Run(ctx context.Context, o *Options, onStart func(*Scheduler)) error {
	if errs := o.Validate(); len(errs) > 0 {
		return fmt.Errorf("invalid options: %v", errs)
	}
	cc, err := o.componentConfig()
	if err != nil {
		return err
	}
	rest, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", o.Kubeconfig, err)
	}
	rest.QPS, rest.Burst = cc.ClientConnection.QPS, int(cc.ClientConnection.Burst)
	rest.ContentType = cc.ClientConnection.ContentType
	rest.AcceptContentTypes = cc.ClientConnection.AcceptContentTypes
	newClient := func(agent string) (kubernetes.Interface, error) {
		return kubernetes.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(rest), agent))
	}
	client, err := newClient("skiff-scheduler")
	if err != nil {
		return err
	}
	eventClient, err := newClient("skiff-scheduler/events")
	if err != nil {
		return err
	}
	served, err := discoverServed(ctx, client)
	if err != nil {
		return err
	}
	broadcaster := events.NewEventBroadcasterAdapterWithContext(ctx, eventClient)
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()

	factory := NewInformerFactory(client, 0)
	sched, err := New(ctx, Config{
		Client:           client,
		InformerFactory:  factory,
		ComponentConfig:  cc,
		EventBroadcaster: broadcaster,
		Served:           func(gvr string) bool { return served[gvr] },
	})
	if err != nil {
		return err
	}
	// Informers run before the election, as upstream's, so a new leader
	// starts with warm caches.
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	for t, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("cache of %v did not sync", t)
		}
	}
	klog.InfoS("Scheduler caches synced", "profiles", len(sched.Profiles))
	run := func(ctx context.Context) {
		if onStart != nil {
			onStart(sched)
		}
		sched.Run(ctx)
	}
	le := cc.LeaderElection
	if le.LeaderElect == nil || !*le.LeaderElect {
		run(ctx)
		return nil
	}
	leClient, err := newClient("skiff-scheduler/leader-election")
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: le.ResourceNamespace, Name: le.ResourceName},
		Client:     leClient.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())},
	}
	lost := make(chan struct{})
	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   le.LeaseDuration.Duration,
		RenewDeadline:   le.RenewDeadline.Duration,
		RetryPeriod:     le.RetryPeriod.Duration,
		ReleaseOnCancel: true,
		Name:            le.ResourceName,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: run,
			OnStoppedLeading: func() {
				klog.InfoS("Lost the scheduler lease")
				close(lost)
			},
		},
	})
	if ctx.Err() != nil {
		return nil
	}
	select {
	case <-lost:
		// As upstream: a scheduler that lost its lease exits so that its
		// in-memory assumptions cannot race the new leader.
		return ErrLeaderElectionLost
	default:
		return nil
	}
}

// discoverServed lists the resources the API server serves as
// "group/version/resource" (core: "v1/resource"), waiting for the server.
func discoverServed(ctx context.Context, client kubernetes.Interface) (map[string]bool, error) {
	served := map[string]bool{}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		_, lists, err := client.Discovery().ServerGroupsAndResources()
		if err != nil && len(lists) == 0 {
			klog.V(2).InfoS("Waiting for the API server's discovery", "err", err)
			return false, nil
		}
		for _, l := range lists {
			for _, r := range l.APIResources {
				served[l.GroupVersion+"/"+r.Name] = true
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("discover the API server's resources: %w", err)
	}
	return served, nil
}
