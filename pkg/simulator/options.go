// Package simulator runs simulated nodes: it registers nodes, keeps their
// Leases and Ready condition fresh, and drives the pods bound to them
// through their phases as if they ran, without containers. Thousands of
// nodes fit in one process, so the scheduler and controllers can be tested
// and benchmarked at scale, in the same cluster as real nodes.
//
// Simulated nodes carry the label skiff.io/simulated=true and, by default,
// the taint skiff.io/simulated=true:NoSchedule: only pods that tolerate it
// land there (a toleration of operator Exists on that key), so real
// workloads are not placed on nodes that do not run them.
package simulator

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Label and taint of simulated nodes, and pod annotations the simulator
// reads.
const (
	// SimulatedLabel marks simulated nodes.
	SimulatedLabel = "skiff.io/simulated"
	// RunDurationAnnotation makes a pod complete (Succeeded) after it has
	// run this long ("30s", "2m").
	RunDurationAnnotation = "skiff.io/simulated-run-duration"
	// ExitCodeAnnotation is the exit code of a completing pod; non-zero
	// makes it Failed.
	ExitCodeAnnotation = "skiff.io/simulated-exit-code"
)

// Options configure the simulated nodes.
type Options struct {
	Kubeconfig string
	// Count nodes named <NamePrefix><index>.
	Count      int
	NamePrefix string
	// Capacity of each node.
	CPU, Memory, Pods, EphemeralStorage string
	// Labels added to every node; Zones > 0 spreads the nodes round-robin
	// over topology.kubernetes.io/zone=zone-<i>.
	Labels map[string]string
	Zones  int
	// Taints of every node ("key=value:Effect"); the default is
	// skiff.io/simulated=true:NoSchedule.
	Taints []string
	// PodCIDR is the range simulated node pod subnets (/24) are carved
	// from when node-ipam did not assign one.
	PodCIDR string
	// NodeIPRange holds the nodes' InternalIPs.
	NodeIPRange string
	// LeaseDuration and LeaseRenewInterval are the node Leases' settings
	// (the kubelet's: 40s, renewed every 10s).
	LeaseDuration      time.Duration
	LeaseRenewInterval time.Duration
	// NodeStatusReportFrequency is how often an unchanged node status is
	// re-posted (the kubelet's default is 5m).
	NodeStatusReportFrequency time.Duration
	// JobPodDuration is how long pods owned by a Job run before they
	// succeed, unless their RunDurationAnnotation says otherwise.
	JobPodDuration time.Duration
	// StartupDelay is how long a pod stays Pending before it runs.
	StartupDelay time.Duration
	// Workers drive pods in parallel.
	Workers int
	// QPS and Burst of the client.
	QPS   float32
	Burst int
	// DeleteNodesOnExit removes the nodes and their Leases at shutdown.
	DeleteNodesOnExit bool
}

// NewOptions returns the defaults.
func NewOptions() *Options {
	return &Options{
		Count:                     1,
		NamePrefix:                "sim-",
		CPU:                       "32",
		Memory:                    "256Gi",
		Pods:                      "110",
		EphemeralStorage:          "1Ti",
		Labels:                    map[string]string{},
		Taints:                    []string{SimulatedLabel + "=true:NoSchedule"},
		PodCIDR:                   "10.64.0.0/10",
		NodeIPRange:               "172.30.0.0/16",
		LeaseDuration:             40 * time.Second,
		LeaseRenewInterval:        10 * time.Second,
		NodeStatusReportFrequency: 5 * time.Minute,
		JobPodDuration:            10 * time.Second,
		Workers:                   16,
		QPS:                       1000,
		Burst:                     2000,
	}
}

// AddFlags adds the simulator's flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Kubeconfig of the API server.")
	fs.IntVar(&o.Count, "count", o.Count, "Number of simulated nodes.")
	fs.StringVar(&o.NamePrefix, "name-prefix", o.NamePrefix, "Node names are <prefix><index>.")
	fs.StringVar(&o.CPU, "cpu", o.CPU, "CPU capacity of each node.")
	fs.StringVar(&o.Memory, "memory", o.Memory, "Memory capacity of each node.")
	fs.StringVar(&o.Pods, "pods", o.Pods, "Pod capacity of each node.")
	fs.StringVar(&o.EphemeralStorage, "ephemeral-storage", o.EphemeralStorage, "Ephemeral storage capacity of each node.")
	fs.StringToStringVar(&o.Labels, "node-labels", o.Labels, "Extra labels of every node (key=value,...).")
	fs.IntVar(&o.Zones, "zones", o.Zones, "Spread nodes over this many topology.kubernetes.io/zone values (0: no zone label).")
	fs.StringSliceVar(&o.Taints, "taints", o.Taints, "Taints of every node (key=value:Effect,...); empty for none.")
	fs.StringVar(&o.PodCIDR, "pod-cidr", o.PodCIDR, "Range of node pod subnets (/24) when node-ipam assigned none.")
	fs.StringVar(&o.NodeIPRange, "node-ip-range", o.NodeIPRange, "Range of the nodes' InternalIP addresses.")
	fs.DurationVar(&o.LeaseDuration, "node-lease-duration", o.LeaseDuration, "Duration of the node Leases.")
	fs.DurationVar(&o.LeaseRenewInterval, "node-lease-renew-interval", o.LeaseRenewInterval, "How often node Leases are renewed.")
	fs.DurationVar(&o.NodeStatusReportFrequency, "node-status-report-frequency", o.NodeStatusReportFrequency, "How often an unchanged node status is posted.")
	fs.DurationVar(&o.JobPodDuration, "job-pod-duration", o.JobPodDuration, "How long pods of Jobs run before succeeding (pods may set the "+RunDurationAnnotation+" annotation).")
	fs.DurationVar(&o.StartupDelay, "pod-startup-delay", o.StartupDelay, "How long pods stay Pending before running.")
	fs.IntVar(&o.Workers, "workers", o.Workers, "Pod workers.")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "Queries per second to the API server.")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "Burst of queries to the API server.")
	fs.BoolVar(&o.DeleteNodesOnExit, "delete-nodes-on-exit", o.DeleteNodesOnExit, "Delete the nodes and their Leases on exit.")
}

// Validate checks the options.
func (o *Options) Validate() []error {
	errs := o.validateNodes()
	if o.Kubeconfig == "" {
		errs = append(errs, fmt.Errorf("--kubeconfig is required"))
	}
	return errs
}

func (o *Options) validateNodes() []error {
	var errs []error
	if o.Count < 1 {
		errs = append(errs, fmt.Errorf("--count must be at least 1"))
	}
	for flag, v := range map[string]string{"--cpu": o.CPU, "--memory": o.Memory, "--pods": o.Pods, "--ephemeral-storage": o.EphemeralStorage} {
		if _, err := resource.ParseQuantity(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	if _, err := o.parseTaints(); err != nil {
		errs = append(errs, err)
	}
	for flag, v := range map[string]string{"--pod-cidr": o.PodCIDR, "--node-ip-range": o.NodeIPRange} {
		if _, _, err := net.ParseCIDR(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", flag, err))
		}
	}
	if o.LeaseRenewInterval <= 0 || o.LeaseRenewInterval >= o.LeaseDuration {
		errs = append(errs, fmt.Errorf("--node-lease-renew-interval must be positive and shorter than --node-lease-duration"))
	}
	if o.Workers < 1 {
		errs = append(errs, fmt.Errorf("--workers must be at least 1"))
	}
	return errs
}

// parseTaints parses "key[=value]:Effect".
func (o *Options) parseTaints() ([]v1.Taint, error) {
	var out []v1.Taint
	for _, s := range o.Taints {
		if s == "" {
			continue
		}
		kv, effect, ok := strings.Cut(s, ":")
		if !ok {
			return nil, fmt.Errorf("--taints: %q is not key=value:Effect", s)
		}
		key, value, _ := strings.Cut(kv, "=")
		e := v1.TaintEffect(effect)
		if key == "" || (e != v1.TaintEffectNoSchedule && e != v1.TaintEffectPreferNoSchedule && e != v1.TaintEffectNoExecute) {
			return nil, fmt.Errorf("--taints: %q is not key=value:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute", s)
		}
		out = append(out, v1.Taint{Key: key, Value: value, Effect: e})
	}
	return out, nil
}
