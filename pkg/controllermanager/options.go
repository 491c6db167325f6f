package controllermanager

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
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
	ClusterCIDR      string
	NodeCIDRMaskSize int
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
}

// NewOptions returns upstream kube-controller-manager's defaults.
func NewOptions() *Options {
	return &Options{
		Controllers:      []string{"*"},
		LeaderElect:      true,
		LeaseDuration:    15 * time.Second,
		RenewDeadline:    10 * time.Second,
		RetryPeriod:      2 * time.Second,
		ClusterCIDR:      "10.244.0.0/16",
		NodeCIDRMaskSize: 24,
		ResyncPeriod:     12 * time.Hour,
		ConcurrentSyncs:  5,

		TerminatedPodGCThreshold:     12500,
		UseServiceAccountCredentials: true,
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
	fs.DurationVar(&o.ResyncPeriod, "min-resync-period", o.ResyncPeriod, "Resync period of the shared informers.")
	fs.IntVar(&o.ConcurrentSyncs, "concurrent-syncs", o.ConcurrentSyncs, "Workers per controller.")
	fs.IntVar(&o.TerminatedPodGCThreshold, "terminated-pod-gc-threshold", o.TerminatedPodGCThreshold, "Number of terminated pods that can exist before the terminated pod garbage collector starts deleting terminated pods. If <= 0, the terminated pod garbage collector is disabled.")
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
	if _, _, err := net.ParseCIDR(o.ClusterCIDR); err != nil {
		errs = append(errs, fmt.Errorf("--cluster-cidr: %w", err))
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
