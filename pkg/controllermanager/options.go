package controllermanager

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/skiff-project/skiff/pkg/controller/nodeipam"
	"github.com/skiff-project/skiff/pkg/controller/nodelifecycle"
	"github.com/skiff-project/skiff/pkg/controller/podautoscaler"
)

// Options are the controller-manager's settings.
type Options struct {
	// Kubeconfig reaches the API server.
	Kubeconfig string
	// Controllers selects controllers upstream's way: "*" is every
	// controller enabled by default, "name" enables one, "-name" disables one.
	Controllers []string

	LeaderElect   bool
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// ClusterCIDR is the pod network; node-ipam gives each node a slice of
	// it (NodeCIDRMaskSize bits).
	ClusterCIDR          string
	NodeCIDRMaskSize     int
	NodeCIDRMaskSizeIPv6 int
	// AllocateNodeCIDRs turns node-ipam on.
	AllocateNodeCIDRs bool
	// NodeLifecycle are the node lifecycle controller's timings and rates.
	NodeLifecycle nodelifecycle.Options
	// ResyncPeriod is the shared informers' resync.
	ResyncPeriod time.Duration
	// ConcurrentSyncs is the number of workers per controller.
	ConcurrentSyncs int
	// TerminatedPodGCThreshold is how many terminated pods may exist
	// before the pod garbage collector deletes the oldest; <= 0 disables.
	TerminatedPodGCThreshold int
	// UseServiceAccountCredentials runs each controller as its own service
	// account in kube-system, as upstream's flag (kubeadm turns it on).
	UseServiceAccountCredentials bool
	// ServiceAccountPrivateKeyFile signs the legacy tokens of
	// service-account token Secrets.
	ServiceAccountPrivateKeyFile string
	// RootCAFile is the CA bundle published to every namespace as
	// kube-root-ca.crt; empty means the CA of the kubeconfig.
	RootCAFile string

	// MaxEndpointsPerSlice is the most endpoints an EndpointSlice holds.
	MaxEndpointsPerSlice int32
	// MirroringMaxEndpointsPerSubset is the most addresses of one
	// Endpoints subset mirrored into EndpointSlices.
	MirroringMaxEndpointsPerSubset int32
	// The endpoint controllers batch the changes that arrive within these.
	EndpointUpdatesBatchPeriod          time.Duration
	EndpointSliceUpdatesBatchPeriod     time.Duration
	MirroringEndpointUpdatesBatchPeriod time.Duration
	// ClusterSigningCertFile and ClusterSigningKeyFile are the CA that
	// signs approved CSRs; ClusterSigningDuration their lifetime.
	ClusterSigningCertFile string
	ClusterSigningKeyFile  string
	ClusterSigningDuration time.Duration
	// HPA are the horizontal pod autoscaler's settings.
	HPA podautoscaler.Options
	// LocalPathDir holds the local-path provisioner's volumes; empty
	// turns the provisioner off.
	LocalPathDir string
	// PVClaimBinderSyncPeriod is how often the binder resyncs volumes and
	// claims.
	PVClaimBinderSyncPeriod time.Duration
	// ResourceQuotaSyncPeriod is how often every quota's usage is
	// recomputed.
	ResourceQuotaSyncPeriod time.Duration
}

// NewOptions returns upstream kube-controller-manager's defaults.
func NewOptions() *Options {
	return &Options{
		Controllers:          []string{"*"},
		LeaderElect:          true,
		LeaseDuration:        15 * time.Second,
		RenewDeadline:        10 * time.Second,
		RetryPeriod:          2 * time.Second,
		ClusterCIDR:          "10.244.0.0/16",
		NodeCIDRMaskSize:     24,
		NodeCIDRMaskSizeIPv6: 64,
		AllocateNodeCIDRs:    true,
		NodeLifecycle:        nodelifecycle.DefaultOptions(),
		ResyncPeriod:         12 * time.Hour,
		ConcurrentSyncs:      5,

		MaxEndpointsPerSlice:           100,
		MirroringMaxEndpointsPerSubset: 1000,
		ResourceQuotaSyncPeriod:        5 * time.Minute,
		LocalPathDir:                   "/var/lib/skiff/storage",
		PVClaimBinderSyncPeriod:        15 * time.Second,
		ClusterSigningDuration:         365 * 24 * time.Hour,
		HPA:                            podautoscaler.DefaultOptions(),
		TerminatedPodGCThreshold:       12500,
		UseServiceAccountCredentials:   true,
	}
}

// AddFlags adds the controller-manager's flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server.")
	fs.StringSliceVar(&o.Controllers, "controllers", o.Controllers, "Controllers to run: '*' for all enabled by default, 'foo' to enable foo, '-foo' to disable foo.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Take a Lease in kube-system before running controllers, so that only one controller-manager acts.")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration, "Leader election lease duration.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline, "Leader election renew deadline.")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "Leader election retry period.")
	fs.StringVar(&o.ClusterCIDR, "cluster-cidr", o.ClusterCIDR, "CIDR of pod IPs; node-ipam gives each node a subnet of it.")
	fs.IntVar(&o.NodeCIDRMaskSize, "node-cidr-mask-size", o.NodeCIDRMaskSize, "Prefix length of each node's pod subnet.")
	fs.IntVar(&o.NodeCIDRMaskSizeIPv6, "node-cidr-mask-size-ipv6", o.NodeCIDRMaskSizeIPv6, "Mask size for IPv6 node cidr in dual-stack cluster.")
	fs.BoolVar(&o.AllocateNodeCIDRs, "allocate-node-cidrs", o.AllocateNodeCIDRs, "Should CIDRs for Pods be allocated and set on the cloud provider.")
	fs.DurationVar(&o.NodeLifecycle.MonitorPeriod, "node-monitor-period", o.NodeLifecycle.MonitorPeriod, "The period for syncing NodeStatus in cloud-node-lifecycle-controller.")
	fs.DurationVar(&o.NodeLifecycle.MonitorGracePeriod, "node-monitor-grace-period", o.NodeLifecycle.MonitorGracePeriod, "Amount of time which we allow running Node to be unresponsive before marking it unhealthy.")
	fs.DurationVar(&o.NodeLifecycle.StartupGracePeriod, "node-startup-grace-period", o.NodeLifecycle.StartupGracePeriod, "Amount of time which we allow starting Node to be unresponsive before marking it unhealthy.")
	fs.Float32Var(&o.NodeLifecycle.EvictionRate, "node-eviction-rate", o.NodeLifecycle.EvictionRate, "Number of nodes per second on which pods are deleted in case of node failure when a zone is healthy (see --unhealthy-zone-threshold for definition of healthy/unhealthy).")
	fs.Float32Var(&o.NodeLifecycle.SecondaryEvictionRate, "secondary-node-eviction-rate", o.NodeLifecycle.SecondaryEvictionRate, "Number of nodes per second on which pods are deleted in case of node failure when a zone is unhealthy (see --unhealthy-zone-threshold for definition of healthy/unhealthy).")
	fs.Int32Var(&o.NodeLifecycle.LargeClusterThreshold, "large-cluster-size-threshold", o.NodeLifecycle.LargeClusterThreshold, "Number of nodes from which node-lifecycle-controller treats the cluster as large for the eviction logic purposes.")
	fs.Float32Var(&o.NodeLifecycle.UnhealthyZoneThreshold, "unhealthy-zone-threshold", o.NodeLifecycle.UnhealthyZoneThreshold, "Fraction of Nodes in a zone which needs to be not Ready (minimum 3) for zone to be treated as unhealthy.")
	fs.DurationVar(&o.ResyncPeriod, "min-resync-period", o.ResyncPeriod, "Resync period of the shared informers.")
	fs.IntVar(&o.ConcurrentSyncs, "concurrent-syncs", o.ConcurrentSyncs, "Workers per controller.")
	fs.IntVar(&o.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", o.TerminatedPodGCThreshold, "Number of terminated pods that can exist before the terminated pod garbage collector starts deleting terminated pods. If <= 0, the terminated pod garbage collector is disabled.")
	fs.Int32Var(&o.MaxEndpointsPerSlice, "max-endpoints-per-slice", o.MaxEndpointsPerSlice, "The maximum number of endpoints that will be added to an EndpointSlice. More endpoints per slice will result in less endpoint slices, but larger resources.")
	fs.Int32Var(&o.MirroringMaxEndpointsPerSubset, "mirroring-max-endpoints-per-subset", o.MirroringMaxEndpointsPerSubset, "The maximum number of endpoints that will be added to an EndpointSlice by the EndpointSliceMirroring controller.")
	fs.DurationVar(&o.EndpointUpdatesBatchPeriod, "endpoint-updates-batch-period", o.EndpointUpdatesBatchPeriod, "The length of endpoint updates batching period. Processing of pod changes will be delayed by this duration to join them with potential upcoming updates and reduce the overall number of endpoints updates.")
	fs.DurationVar(&o.EndpointSliceUpdatesBatchPeriod, "endpointslice-updates-batch-period", o.EndpointSliceUpdatesBatchPeriod, "The length of endpoint slice updates batching period. Processing of pod changes will be delayed by this duration to join them with potential upcoming updates and reduce the overall number of endpoints updates.")
	fs.DurationVar(&o.MirroringEndpointUpdatesBatchPeriod, "mirroring-endpointslice-updates-batch-period", o.MirroringEndpointUpdatesBatchPeriod, "The length of EndpointSlice updates batching period for EndpointSliceMirroring controller.")
	fs.StringVar(&o.ClusterSigningCertFile, "cluster-signing-cert-file", o.ClusterSigningCertFile, "Filename containing a PEM-encoded X509 CA certificate used to issue cluster-scoped certificates.")
	fs.StringVar(&o.ClusterSigningKeyFile, "cluster-signing-key-file", o.ClusterSigningKeyFile, "Filename containing a PEM-encoded RSA or ECDSA private key used to sign cluster-scoped certificates.")
	fs.DurationVar(&o.ClusterSigningDuration, "cluster-signing-duration", o.ClusterSigningDuration, "The max length of duration signed certificates will be given. Individual CSRs may request shorter certs by setting spec.expirationSeconds.")
	fs.DurationVar(&o.HPA.SyncPeriod, "horizontal-pod-autoscaler-sync-period", o.HPA.SyncPeriod, "The period for syncing the number of pods in horizontal pod autoscaler.")
	fs.DurationVar(&o.HPA.DownscaleStabilizationWindow, "horizontal-pod-autoscaler-downscale-stabilization", o.HPA.DownscaleStabilizationWindow, "The period for which autoscaler will look backwards and not scale down below any recommendation it made during that period.")
	fs.Float64Var(&o.HPA.Tolerance, "horizontal-pod-autoscaler-tolerance", o.HPA.Tolerance, "The minimum change (from 1.0) in the desired-to-actual metrics ratio for the horizontal pod autoscaler to consider scaling.")
	fs.DurationVar(&o.HPA.CPUInitializationPeriod, "horizontal-pod-autoscaler-cpu-initialization-period", o.HPA.CPUInitializationPeriod, "The period after pod start when CPU samples might be skipped.")
	fs.DurationVar(&o.HPA.DelayOfInitialReadinessStatus, "horizontal-pod-autoscaler-initial-readiness-delay", o.HPA.DelayOfInitialReadinessStatus, "The period after pod start during which readiness changes will be treated as initial readiness.")
	fs.StringVar(&o.LocalPathDir, "default-local-storage-path", o.LocalPathDir, "Directory of the local-path provisioner's volumes (StorageClass local-path); empty disables the provisioner.")
	fs.DurationVar(&o.PVClaimBinderSyncPeriod, "pvclaimbinder-sync-period", o.PVClaimBinderSyncPeriod, "The period for syncing persistent volumes and persistent volume claims")
	fs.DurationVar(&o.ResourceQuotaSyncPeriod, "resource-quota-sync-period", o.ResourceQuotaSyncPeriod, "The period for syncing quota usage status in the system")
	fs.BoolVar(&o.UseServiceAccountCredentials, "use-service-account-credentials", o.UseServiceAccountCredentials, "Run each controller with the credentials of its own service account in kube-system.")
	fs.StringVar(&o.ServiceAccountPrivateKeyFile, "service-account-private-key-file", o.ServiceAccountPrivateKeyFile, "PEM private key that signs the tokens of service-account token Secrets (the API server's service-account signing key).")
	fs.StringVar(&o.RootCAFile, "root-ca-file", o.RootCAFile, "CA bundle published to every namespace as the ConfigMap kube-root-ca.crt. Default: the kubeconfig's CA.")
}

// Complete replaces controller aliases in --controllers with canonical
// names, keeping a leading "-", as upstream does.
func (o *Options) Complete(controllers map[string]Controller) {
	canonical := map[string]string{}
	for name, c := range controllers {
		for _, alias := range c.Aliases {
			canonical[alias] = name
		}
	}
	for i, c := range o.Controllers {
		name, disabled := strings.CutPrefix(c, "-")
		if n, ok := canonical[name]; ok {
			name = n
		}
		if disabled {
			name = "-" + name
		}
		o.Controllers[i] = name
	}
}

// Validate checks the options against the known controllers.
func (o *Options) Validate(known []string) []error {
	var errs []error
	names := map[string]bool{}
	for _, n := range known {
		names[n] = true
	}
	for _, c := range o.Controllers {
		name := strings.TrimPrefix(c, "-")
		if c != "*" && !names[name] {
			errs = append(errs, fmt.Errorf("--controllers: %q is not a known controller", c))
		}
	}
	if _, _, err := nodeipam.ParseClusterCIDRs(o.ClusterCIDR, o.NodeCIDRMaskSize, o.NodeCIDRMaskSizeIPv6); err != nil {
		errs = append(errs, err)
	}
	if o.MaxEndpointsPerSlice < 1 || o.MaxEndpointsPerSlice > 1000 {
		errs = append(errs, fmt.Errorf("--max-endpoints-per-slice must be between 1 and 1000"))
	}
	if o.MirroringMaxEndpointsPerSubset < 1 || o.MirroringMaxEndpointsPerSubset > 1000 {
		errs = append(errs, fmt.Errorf("--mirroring-max-endpoints-per-subset must be between 1 and 1000"))
	}
	if o.ConcurrentSyncs < 1 {
		errs = append(errs, fmt.Errorf("--concurrent-syncs must be at least 1"))
	}
	return errs
}

// enabled reports whether controller name runs, given whether it is on by
// default (upstream's IsControllerEnabled rules).
func (o *Options) enabled(name string, onByDefault bool) bool {
	star := false
	for _, c := range o.Controllers {
		switch c {
		case name:
			return true
		case "-" + name:
			return false
		case "*":
			star = true
		}
	}
	return star && onByDefault
}
