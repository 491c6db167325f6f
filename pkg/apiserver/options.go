package apiserver

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	utilnet "k8s.io/apimachinery/pkg/util/net"
)

// Options are the API server's settings, as flags give them.
type Options struct {
	// DataDir holds etcd's data, certificates and kubeconfigs.
	DataDir string

	BindAddress      net.IP
	SecurePort       int
	AdvertiseAddress net.IP

	// EtcdServers, when set, replaces the embedded etcd.
	EtcdServers  []string
	EtcdCAFile   string
	EtcdCertFile string
	EtcdKeyFile  string
	EtcdPrefix   string
	// EtcdFastElection shortens the embedded etcd's raft ticks.
	EtcdFastElection bool
	// EtcdUnsafeNoFsync is for tests: a crash may lose writes.
	EtcdUnsafeNoFsync bool

	ServiceClusterIPRange string
	ServiceNodePortRange  string

	EventTTL time.Duration
	// MaxRequestBodyBytes limits the size of a request body; upstream's
	// default is 3 MiB.
	MaxRequestBodyBytes int64
}

// NewOptions returns upstream kube-apiserver's defaults where they apply.
func NewOptions() *Options {
	return &Options{
		DataDir:               "/var/lib/skiff",
		BindAddress:           net.ParseIP("0.0.0.0"),
		SecurePort:            6443,
		EtcdPrefix:            "/registry",
		EtcdFastElection:      true,
		ServiceClusterIPRange: "10.96.0.0/12",
		ServiceNodePortRange:  "30000-32767",
		EventTTL:              time.Hour,
		MaxRequestBodyBytes:   3 * 1024 * 1024,
	}
}

// AddFlags adds the API server's flags to fs.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.DataDir, "data-dir", o.DataDir, "Directory for etcd data, certificates and kubeconfigs.")
	fs.IPVar(&o.BindAddress, "bind-address", o.BindAddress, "Address the secure port listens on.")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "Port of the HTTPS API.")
	fs.IPVar(&o.AdvertiseAddress, "advertise-address", o.AdvertiseAddress, "Address published in the kubernetes Service's endpoints. Defaults to the address of the default-route interface.")
	fs.StringSliceVar(&o.EtcdServers, "etcd-servers", o.EtcdServers, "External etcd servers (scheme://ip:port,...). When empty, skiff runs an embedded etcd in <data-dir>/etcd.")
	fs.StringVar(&o.EtcdCAFile, "etcd-cafile", o.EtcdCAFile, "CA bundle to verify external etcd servers.")
	fs.StringVar(&o.EtcdCertFile, "etcd-certfile", o.EtcdCertFile, "Client certificate for external etcd servers.")
	fs.StringVar(&o.EtcdKeyFile, "etcd-keyfile", o.EtcdKeyFile, "Client key for external etcd servers.")
	fs.StringVar(&o.EtcdPrefix, "etcd-prefix", o.EtcdPrefix, "Prefix of every key skiff writes to etcd.")
	fs.BoolVar(&o.EtcdFastElection, "etcd-fast-election", o.EtcdFastElection, "Short raft ticks for the embedded single-member etcd (faster start).")
	fs.BoolVar(&o.EtcdUnsafeNoFsync, "etcd-unsafe-no-fsync", o.EtcdUnsafeNoFsync, "Tests only: the embedded etcd does not fsync; a crash can lose data.")
	_ = fs.MarkHidden("etcd-unsafe-no-fsync")
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", o.ServiceClusterIPRange, "CIDR of Service ClusterIPs.")
	fs.StringVar(&o.ServiceNodePortRange, "service-node-port-range", o.ServiceNodePortRange, "Port range of NodePort Services.")
	fs.DurationVar(&o.EventTTL, "event-ttl", o.EventTTL, "How long events are kept.")
	fs.Int64Var(&o.MaxRequestBodyBytes, "max-request-body-bytes", o.MaxRequestBodyBytes, "Largest request body accepted.")
}

// Validate checks the options.
func (o *Options) Validate() []error {
	var errs []error
	if o.DataDir == "" {
		errs = append(errs, fmt.Errorf("--data-dir is required"))
	}
	if o.SecurePort <= 0 || o.SecurePort > 65535 {
		errs = append(errs, fmt.Errorf("--secure-port %d is not a valid port", o.SecurePort))
	}
	if _, _, err := net.ParseCIDR(o.ServiceClusterIPRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-cluster-ip-range: %w", err))
	}
	if _, err := utilnet.ParsePortRange(o.ServiceNodePortRange); err != nil {
		errs = append(errs, fmt.Errorf("--service-node-port-range: %w", err))
	}
	if (o.EtcdCertFile == "") != (o.EtcdKeyFile == "") {
		errs = append(errs, fmt.Errorf("--etcd-certfile and --etcd-keyfile go together"))
	}
	for _, s := range o.EtcdServers {
		if !strings.Contains(s, "://") {
			errs = append(errs, fmt.Errorf("--etcd-servers: %q needs a scheme (http:// or https://)", s))
		}
	}
	if o.MaxRequestBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("--max-request-body-bytes must be positive"))
	}
	return errs
}

// KubeconfigPath is where the admin kubeconfig is written.
func (o *Options) KubeconfigPath() string { return filepath.Join(o.DataDir, "admin.kubeconfig") }

func (o *Options) tlsDir() string { return filepath.Join(o.DataDir, "tls") }

// CACertPath is the cluster CA certificate (written on first start): it
// signs the serving and client certificates, and the controller-manager
// publishes it to every namespace as kube-root-ca.crt.
func (o *Options) CACertPath() string { return filepath.Join(o.tlsDir(), "ca.crt") }

// localURL is how a process on this machine reaches the API server.
func (o *Options) localURL() string {
	host := "127.0.0.1"
	if o.BindAddress != nil && !o.BindAddress.IsUnspecified() && !o.BindAddress.IsLoopback() {
		host = o.BindAddress.String()
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(o.SecurePort))
}
