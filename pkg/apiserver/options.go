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
	genericoptions "k8s.io/apiserver/pkg/server/options"
	cliflag "k8s.io/component-base/cli/flag"
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

	// AllowPrivileged lets pods run privileged containers (kube-apiserver's
	// --allow-privileged, which kubeadm and k3s turn on).
	AllowPrivileged bool

	EventTTL time.Duration
	// MaxRequestBodyBytes limits the size of a request body; upstream's
	// default is 3 MiB.
	MaxRequestBodyBytes int64

	Authentication AuthenticationOptions
	// AuthorizationModes are the authorizers, in order (upstream's
	// --authorization-mode): Node, RBAC, AlwaysAllow, AlwaysDeny.
	AuthorizationModes []string
	// DisableAdmissionPlugins turns off admission plugins that are on by
	// default; EnableAdmissionPlugins turns on ones that are off.
	EnableAdmissionPlugins, DisableAdmissionPlugins []string
	// AdmissionControlConfigFile is an AdmissionConfiguration file: the
	// plugins' own configurations (e.g. PodSecurity's cluster defaults).
	AdmissionControlConfigFile string

	// Audit is upstream's audit logging and webhook options.
	Audit *genericoptions.AuditOptions
	// EncryptionProviderConfig encrypts resources at rest (upstream's
	// EncryptionConfiguration file).
	EncryptionProviderConfig                string
	EncryptionProviderConfigAutomaticReload bool
}

// AuthenticationOptions are how requests are authenticated.
type AuthenticationOptions struct {
	// AnonymousAuth lets unauthenticated requests reach the public paths
	// (/healthz, /livez, /readyz, /version) as system:anonymous.
	AnonymousAuth bool
	// TokenAuthFile is a CSV of static bearer tokens (token,user,uid,"groups").
	TokenAuthFile string
	// ServiceAccountIssuer is the "iss" of service-account tokens; the
	// first is used to sign, all are accepted.
	ServiceAccountIssuers []string
	// ServiceAccountKeyFiles verify service-account tokens, in addition to
	// the signing key's public half.
	ServiceAccountKeyFiles []string
	// ServiceAccountSigningKeyFile signs them; defaults to
	// <data-dir>/tls/service-account.key.
	ServiceAccountSigningKeyFile string
	// ServiceAccountMaxTokenExpiration caps TokenRequest lifetimes (0: none).
	ServiceAccountMaxTokenExpiration time.Duration
	// ServiceAccountExtendTokenExpiration lets projected tokens outlive the
	// kubelet's default hour (flagged stale), as upstream.
	ServiceAccountExtendTokenExpiration bool
	// ServiceAccountJWKSURI overrides the jwks_uri of the issuer discovery.
	ServiceAccountJWKSURI string
	// APIAudiences are the audiences of tokens meant for this server;
	// default: the issuers.
	APIAudiences []string

	// OIDC configures a JWT authenticator for an OpenID Connect issuer.
	OIDC OIDCOptions
}

// OIDCOptions are upstream's --oidc-* flags.
type OIDCOptions struct {
	IssuerURL      string
	ClientID       string
	CAFile         string
	UsernameClaim  string
	UsernamePrefix string
	GroupsClaim    string
	GroupsPrefix   string
	SigningAlgs    []string
	RequiredClaims map[string]string
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
		AllowPrivileged:       true,
		EventTTL:              time.Hour,
		MaxRequestBodyBytes:   3 * 1024 * 1024,
		Authentication: AuthenticationOptions{
			AnonymousAuth:                       true,
			ServiceAccountIssuers:               []string{"https://kubernetes.default.svc.cluster.local"},
			ServiceAccountExtendTokenExpiration: true,
			OIDC:                                OIDCOptions{UsernameClaim: "sub", SigningAlgs: []string{"RS256"}},
		},
		AuthorizationModes: []string{"Node", "RBAC"},
		Audit:              genericoptions.NewAuditOptions(),
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
	fs.BoolVar(&o.AllowPrivileged, "allow-privileged", o.AllowPrivileged, "Allow privileged containers (as kubeadm and k3s set it).")
	fs.BoolVar(&o.EtcdUnsafeNoFsync, "etcd-unsafe-no-fsync", o.EtcdUnsafeNoFsync, "Tests only: the embedded etcd does not fsync; a crash can lose data.")
	_ = fs.MarkHidden("etcd-unsafe-no-fsync")
	fs.StringVar(&o.ServiceClusterIPRange, "service-cluster-ip-range", o.ServiceClusterIPRange, "CIDR of Service ClusterIPs.")
	fs.StringVar(&o.ServiceNodePortRange, "service-node-port-range", o.ServiceNodePortRange, "Port range of NodePort Services.")
	fs.DurationVar(&o.EventTTL, "event-ttl", o.EventTTL, "How long events are kept.")
	fs.Int64Var(&o.MaxRequestBodyBytes, "max-request-body-bytes", o.MaxRequestBodyBytes, "Largest request body accepted.")

	a := &o.Authentication
	fs.BoolVar(&a.AnonymousAuth, "anonymous-auth", a.AnonymousAuth, "Let unauthenticated requests reach /healthz, /livez, /readyz and /version as system:anonymous. No other path accepts them.")
	fs.StringVar(&a.TokenAuthFile, "token-auth-file", a.TokenAuthFile, "CSV file of static bearer tokens: token,user,uid,\"group1,group2\".")
	fs.StringSliceVar(&a.ServiceAccountIssuers, "service-account-issuer", a.ServiceAccountIssuers, "Issuer (iss) of service-account tokens. The first signs new tokens; all are accepted.")
	fs.StringSliceVar(&a.ServiceAccountKeyFiles, "service-account-key-file", a.ServiceAccountKeyFiles, "PEM files of extra keys that verify service-account tokens (the signing key always does).")
	fs.StringVar(&a.ServiceAccountSigningKeyFile, "service-account-signing-key-file", a.ServiceAccountSigningKeyFile, "Private key that signs service-account tokens. Default: <data-dir>/tls/service-account.key, created on first start.")
	fs.DurationVar(&a.ServiceAccountMaxTokenExpiration, "service-account-max-token-expiration", a.ServiceAccountMaxTokenExpiration, "Longest lifetime a TokenRequest may get (0: no limit).")
	fs.BoolVar(&a.ServiceAccountExtendTokenExpiration, "service-account-extend-token-expiration", a.ServiceAccountExtendTokenExpiration, "Let projected tokens live a year, flagged stale after the hour the kubelet asked for.")
	fs.StringVar(&a.ServiceAccountJWKSURI, "service-account-jwks-uri", a.ServiceAccountJWKSURI, "jwks_uri of the issuer discovery document. Default: https://<advertise-address>:<port>/openid/v1/jwks.")
	fs.StringSliceVar(&a.APIAudiences, "api-audiences", a.APIAudiences, "Audiences of tokens meant for this server. Default: the service-account issuers.")
	fs.StringVar(&a.OIDC.IssuerURL, "oidc-issuer-url", a.OIDC.IssuerURL, "URL of an OpenID Connect issuer (https) whose ID tokens authenticate users.")
	fs.StringVar(&a.OIDC.ClientID, "oidc-client-id", a.OIDC.ClientID, "Client ID (audience) of the OpenID Connect tokens; required with --oidc-issuer-url.")
	fs.StringVar(&a.OIDC.CAFile, "oidc-ca-file", a.OIDC.CAFile, "CA bundle that verifies the OpenID issuer's certificate (default: the host's roots).")
	fs.StringVar(&a.OIDC.UsernameClaim, "oidc-username-claim", a.OIDC.UsernameClaim, "Claim that is the user name.")
	fs.StringVar(&a.OIDC.UsernamePrefix, "oidc-username-prefix", a.OIDC.UsernamePrefix, "Prefix of OIDC user names. Default: the issuer URL and '#', except for the email claim; '-' for none.")
	fs.StringVar(&a.OIDC.GroupsClaim, "oidc-groups-claim", a.OIDC.GroupsClaim, "Claim that lists the user's groups.")
	fs.StringVar(&a.OIDC.GroupsPrefix, "oidc-groups-prefix", a.OIDC.GroupsPrefix, "Prefix of OIDC group names.")
	fs.StringSliceVar(&a.OIDC.SigningAlgs, "oidc-signing-algs", a.OIDC.SigningAlgs, "JOSE algorithms accepted for OIDC tokens.")
	fs.Var(cliflag.NewMapStringStringNoSplit(&a.OIDC.RequiredClaims), "oidc-required-claim", "key=value claim the OIDC token must carry; repeat for more.")

	fs.StringSliceVar(&o.AuthorizationModes, "authorization-mode", o.AuthorizationModes, "Authorizers in order: Node, RBAC, AlwaysAllow, AlwaysDeny.")
	fs.StringSliceVar(&o.EnableAdmissionPlugins, "enable-admission-plugins", o.EnableAdmissionPlugins, "Admission plugins to turn on in addition to the default ones.")
	fs.StringSliceVar(&o.DisableAdmissionPlugins, "disable-admission-plugins", o.DisableAdmissionPlugins, "Default admission plugins to turn off.")
	fs.StringVar(&o.AdmissionControlConfigFile, "admission-control-config-file", o.AdmissionControlConfigFile, "AdmissionConfiguration file with admission plugins' configurations (e.g. PodSecurity defaults and exemptions).")

	o.Audit.AddFlags(fs)
	fs.StringVar(&o.EncryptionProviderConfig, "encryption-provider-config", o.EncryptionProviderConfig, "EncryptionConfiguration file: how resources (e.g. secrets) are encrypted in etcd.")
	fs.BoolVar(&o.EncryptionProviderConfigAutomaticReload, "encryption-provider-config-automatic-reload", o.EncryptionProviderConfigAutomaticReload, "Reload --encryption-provider-config when the file changes.")
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
	if len(o.Authentication.ServiceAccountIssuers) == 0 {
		errs = append(errs, fmt.Errorf("--service-account-issuer is required"))
	}
	if oidc := o.Authentication.OIDC; (oidc.IssuerURL == "") != (oidc.ClientID == "") {
		errs = append(errs, fmt.Errorf("--oidc-issuer-url and --oidc-client-id must be specified together"))
	}
	if len(o.AuthorizationModes) == 0 {
		errs = append(errs, fmt.Errorf("--authorization-mode needs at least one mode"))
	}
	for _, m := range o.AuthorizationModes {
		switch m {
		case "Node", "RBAC", "AlwaysAllow", "AlwaysDeny":
		default:
			errs = append(errs, fmt.Errorf("--authorization-mode: unknown mode %q (known: Node, RBAC, AlwaysAllow, AlwaysDeny)", m))
		}
	}
	if o.EncryptionProviderConfigAutomaticReload && o.EncryptionProviderConfig == "" {
		errs = append(errs, fmt.Errorf("--encryption-provider-config-automatic-reload needs --encryption-provider-config"))
	}
	errs = append(errs, o.Audit.Validate()...)
	return errs
}

// KubeconfigPath is where the admin kubeconfig is written.
func (o *Options) KubeconfigPath() string { return filepath.Join(o.DataDir, "admin.kubeconfig") }

func (o *Options) tlsDir() string { return filepath.Join(o.DataDir, "tls") }

// ServiceAccountSigningKeyPath is the key that signs service-account tokens.
func (o *Options) ServiceAccountSigningKeyPath() string {
	if o.Authentication.ServiceAccountSigningKeyFile != "" {
		return o.Authentication.ServiceAccountSigningKeyFile
	}
	return filepath.Join(o.tlsDir(), "service-account.key")
}

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
