package apiserver

import (
	cryptotls "crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	apiextensionsapiserver "k8s.io/apiextensions-apiserver/pkg/apiserver"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/uuid"
	webhookinit "k8s.io/apiserver/pkg/admission/plugin/webhook/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/discovery/aggregated"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/filters"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	serverstorage "k8s.io/apiserver/pkg/server/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/apiserver/pkg/util/webhook"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-base/compatibility"
	aggregatorapiserver "k8s.io/kube-aggregator/pkg/apiserver"
	aggregatorscheme "k8s.io/kube-aggregator/pkg/apiserver/scheme"

	skiffadmission "github.com/skiff-project/skiff/pkg/admission"
	"github.com/skiff-project/skiff/pkg/api/scheme"
	rbacauthorizer "github.com/skiff-project/skiff/pkg/auth/authorizer/rbac"
	"github.com/skiff-project/skiff/pkg/etcd"
	"github.com/skiff-project/skiff/pkg/generated/openapi"
	"github.com/skiff-project/skiff/pkg/pki"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// Version is the Kubernetes version skiff's API implements.
const Version = "1.37"

// Config is the API server's complete configuration.
type Config struct {
	Options *Options
	Generic *genericapiserver.RecommendedConfig
	// StorageFactory tells each resource where and how it is stored.
	StorageFactory *serverstorage.DefaultStorageFactory
	// Informers watch the API server itself (loopback).
	Informers informers.SharedInformerFactory
	// ServiceIPRange and NodePortRange drive Service allocation.
	ServiceIPRange *net.IPNet
	NodePortRange  utilnet.PortRange
	// AdvertiseAddress is published in the kubernetes Service's endpoints.
	AdvertiseAddress net.IP
	// ProxyTransport dials nodes, pods and services for proxy subresources.
	ProxyTransport *http.Transport

	// Extensions (CRDs) is first in the delegation chain and Aggregator
	// (APIServices) last, as upstream.
	Extensions *apiextensionsapiserver.Config
	Aggregator *aggregatorapiserver.Config

	etcdOptions *genericoptions.EtcdOptions
	tls         certificates
	// frontProxyClientCert/Key identify the aggregator to extension API
	// servers (request-header authentication).
	frontProxyClientCert, frontProxyClientKey string
	// KubeletClientConfig reaches kubelets for pods' log, exec, attach and
	// portforward.
	KubeletClientConfig generic.KubeletClientConfig

	// serviceAccounts signs and verifies service-account tokens.
	serviceAccounts *serviceAccountAuth
	// ruleResolver lists a user's rules (SelfSubjectRulesReview);
	// rbacResolver is RBAC's, for the escalation check (nil without RBAC).
	ruleResolver authorizer.RuleResolver
	rbacResolver *rbacauthorizer.RuleResolver
}

// specialResourcePrefixes keep upstream's etcd key layout.
var specialResourcePrefixes = map[schema.GroupResource]string{
	{Group: "", Resource: "replicationcontrollers"}:     "controllers",
	{Group: "", Resource: "endpoints"}:                  "services/endpoints",
	{Group: "", Resource: "nodes"}:                      "minions",
	{Group: "", Resource: "services"}:                   "services/specs",
	{Group: "networking.k8s.io", Resource: "ingresses"}: "ingress",
}

// NewConfig builds the configuration: certificates, storage, authentication,
// admission, OpenAPI.
func NewConfig(o *Options, embedded *etcd.Server) (*Config, error) {
	if errs := o.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("invalid options: %v", errs)
	}
	c := &Config{Options: o}
	_, serviceIPRange, err := net.ParseCIDR(o.ServiceClusterIPRange)
	if err != nil {
		return nil, err
	}
	c.ServiceIPRange = serviceIPRange
	nodePorts, err := utilnet.ParsePortRange(o.ServiceNodePortRange)
	if err != nil {
		return nil, err
	}
	c.NodePortRange = *nodePorts
	// Pods and services are dialled by IP: their certificates cannot be
	// verified by name.
	c.ProxyTransport = utilnet.SetTransportDefaults(&http.Transport{TLSClientConfig: &cryptotls.Config{InsecureSkipVerify: true}})
	c.AdvertiseAddress = o.AdvertiseAddress
	if c.AdvertiseAddress == nil {
		if c.AdvertiseAddress, err = utilnet.ResolveBindAddress(o.BindAddress); err != nil {
			return nil, fmt.Errorf("choose an advertise address (set --advertise-address): %w", err)
		}
	}

	tls, err := ensureCertificates(o, c.AdvertiseAddress, serviceIPRange)
	if err != nil {
		return nil, err
	}
	c.tls = tls
	// Like upstream without --kubelet-certificate-authority, kubelets'
	// serving certificates are not verified; the API server authenticates
	// to kubelets with its kubelet-client certificate (system:masters).
	kubeletClient, err := cryptotls.LoadX509KeyPair(tls.kubeletClientCert, tls.kubeletClientKey)
	if err != nil {
		return nil, fmt.Errorf("load kubelet client certificate: %w", err)
	}
	c.KubeletClientConfig = generic.KubeletClientConfig{
		Port: 10250,
		Transport: utilnet.SetTransportDefaults(&http.Transport{TLSClientConfig: &cryptotls.Config{
			InsecureSkipVerify: true, Certificates: []cryptotls.Certificate{kubeletClient}}}),
	}
	c.frontProxyClientCert, c.frontProxyClientKey = tls.frontProxyClientCert, tls.frontProxyClientKey

	gc := genericapiserver.NewRecommendedConfig(scheme.Codecs)
	c.Generic = gc
	gc.EffectiveVersion = compatibility.NewEffectiveVersionFromString(Version, "", "")
	gc.MaxRequestBodyBytes = o.MaxRequestBodyBytes
	// On SIGTERM, close open watches within a short grace period instead of
	// letting them hold the HTTP server's shutdown for a minute; clients
	// re-establish them against the restarted server.
	gc.ShutdownWatchTerminationGracePeriod = 2 * time.Second
	gc.PublicAddress = c.AdvertiseAddress
	gc.ExternalAddress = net.JoinHostPort(c.AdvertiseAddress.String(), fmt.Sprint(o.SecurePort))

	serving := genericoptions.NewSecureServingOptions()
	serving.BindAddress = o.BindAddress
	serving.BindPort = o.SecurePort
	serving.ServerCert.CertKey = genericoptions.CertKey{CertFile: tls.servingCert, KeyFile: tls.servingKey}
	if err := serving.ApplyTo(&gc.SecureServing); err != nil {
		return nil, fmt.Errorf("secure serving: %w", err)
	}
	if err := applyLoopback(gc); err != nil {
		return nil, err
	}
	// Upstream talks to itself in protobuf, uncompressed.
	gc.LoopbackClientConfig.ContentType = runtime.ContentTypeProtobuf
	gc.LoopbackClientConfig.DisableCompression = true

	versioned, err := scheme.NewVersionedScheme()
	if err != nil {
		return nil, err
	}
	namer := openapinamer.NewDefinitionNamer(versioned, apiextensionsapiserver.Scheme, aggregatorscheme.Scheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIConfig.Info.Title = "Kubernetes"
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIV3Config.Info.Title = "Kubernetes"
	gc.LongRunningFunc = filters.BasicLongRunningRequestCheck(
		sets.NewString("watch", "proxy"),
		sets.NewString("attach", "exec", "proxy", "log", "portforward"),
	)
	gc.AggregatedDiscoveryGroupManager = aggregated.NewResourceManager("apis")

	if err := c.applyStorage(embedded); err != nil {
		return nil, err
	}

	client, err := kubernetes.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("loopback client: %w", err)
	}
	dynamicClient, err := dynamic.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, fmt.Errorf("loopback dynamic client: %w", err)
	}
	c.Informers = informers.NewSharedInformerFactory(client, 10*time.Minute)
	gc.SharedInformerFactory = c.Informers
	gc.ClientConfig = gc.LoopbackClientConfig

	if err := c.applyAuthentication(client); err != nil {
		return nil, err
	}
	if err := c.applyAuthorization(); err != nil {
		return nil, err
	}
	if err := o.Audit.ApplyTo(&gc.Config); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}

	features := genericoptions.NewFeatureOptions()
	features.EnableProfiling = false
	if err := features.ApplyTo(&gc.Config, client, c.Informers); err != nil {
		return nil, fmt.Errorf("priority and fairness: %w", err)
	}

	// Webhooks, admission policies, CRD conversion and aggregated APIs
	// reach services by ClusterIP; kubernetes.default.svc is this server
	// itself.
	loopbackURL, err := url.Parse(gc.LoopbackClientConfig.Host)
	if err != nil {
		return nil, err
	}
	serviceResolver := aggregatorapiserver.NewLoopbackServiceResolver(
		aggregatorapiserver.NewClusterIPServiceResolver(c.Informers.Core().V1().Services().Lister()), loopbackURL)
	authResolver := webhook.NewDefaultAuthenticationInfoResolverWrapper(c.ProxyTransport, nil, gc.LoopbackClientConfig, gc.TracerProvider)

	admissionOptions := genericoptions.NewAdmissionOptions()
	skiffadmission.RegisterAllPlugins(admissionOptions.Plugins)
	admissionOptions.RecommendedPluginOrder = skiffadmission.OrderedPlugins
	admissionOptions.DefaultOffPlugins = skiffadmission.DefaultOffPlugins()
	admissionOptions.EnablePlugins = o.EnableAdmissionPlugins
	admissionOptions.DisablePlugins = o.DisableAdmissionPlugins
	admissionOptions.ConfigFile = o.AdmissionControlConfigFile
	if errs := admissionOptions.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("admission: %v", errs)
	}
	if err := admissionOptions.ApplyTo(&gc.Config, c.Informers, client, dynamicClient, utilfeature.DefaultFeatureGate, gc.EffectiveVersion,
		webhookinit.NewPluginInitializer(authResolver, serviceResolver), skiffadmission.NewInitializer()); err != nil {
		return nil, fmt.Errorf("admission: %w", err)
	}

	if c.Extensions, err = c.newExtensionsConfig(serviceResolver, authResolver); err != nil {
		return nil, err
	}
	if c.Aggregator, err = c.newAggregatorConfig(serviceResolver); err != nil {
		return nil, err
	}
	return c, nil
}

// applyLoopback sets up how the server talks to itself: a bearer token and
// a certificate served only for the loopback client's server name, as
// SecureServingOptionsWithLoopback does, but with a cheap ECDSA key.
func applyLoopback(gc *genericapiserver.RecommendedConfig) error {
	certPEM, keyPEM, err := pki.SelfSignedCert(genericapiserver.LoopbackClientServerNameOverride, 365*24*time.Hour)
	if err != nil {
		return fmt.Errorf("loopback certificate: %w", err)
	}
	cert, err := dynamiccertificates.NewStaticSNICertKeyContent("self-signed loopback", certPEM, keyPEM, genericapiserver.LoopbackClientServerNameOverride)
	if err != nil {
		return fmt.Errorf("loopback certificate: %w", err)
	}
	gc.SecureServing.SNICerts = append([]dynamiccertificates.SNICertKeyContentProvider{cert}, gc.SecureServing.SNICerts...)
	loopback, err := gc.SecureServing.NewLoopbackClientConfig(string(uuid.NewUUID()), certPEM)
	if err != nil {
		return fmt.Errorf("loopback client: %w", err)
	}
	gc.LoopbackClientConfig = loopback
	return nil
}

type certificates struct {
	caCert                                    string
	servingCert, servingKey                   string
	frontProxyCA                              string
	frontProxyClientCert, frontProxyClientKey string
	kubeletClientCert, kubeletClientKey       string
}

// ensureCertificates creates (first start) or reloads the cluster CA, the
// serving certificate, the admin client certificate and kubeconfig and the
// service-account key.
func ensureCertificates(o *Options, advertise net.IP, serviceRange *net.IPNet) (certificates, error) {
	dir := o.tlsDir()
	ca, err := pki.LoadOrCreateCA(dir, "ca", "skiff-ca") // at o.CACertPath()
	if err != nil {
		return certificates{}, err
	}
	names, ips := hostAddresses(o, advertise)
	firstServiceIP, err := firstIP(serviceRange)
	if err != nil {
		return certificates{}, err
	}
	ips = append(ips, firstServiceIP)
	servingCert, servingKey, err := ca.EnsureCert(dir, "apiserver", pki.CertSpec{CommonName: "kube-apiserver", DNSNames: names, IPs: ips, Server: true})
	if err != nil {
		return certificates{}, err
	}
	adminCert, adminKey, err := ca.EnsureCert(dir, "admin", pki.CertSpec{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}})
	if err != nil {
		return certificates{}, err
	}
	if err := pki.EnsureKey(filepath.Join(dir, "service-account.key"), filepath.Join(dir, "service-account.pub")); err != nil {
		return certificates{}, err
	}
	// A separate CA signs the aggregator's client certificate, as upstream
	// keeps request-header trust apart from client-certificate trust.
	frontProxyCA, err := pki.LoadOrCreateCA(dir, "front-proxy-ca", "skiff-front-proxy-ca")
	if err != nil {
		return certificates{}, err
	}
	fpCert, fpKey, err := frontProxyCA.EnsureCert(dir, "front-proxy-client", pki.CertSpec{CommonName: "front-proxy-client"})
	if err != nil {
		return certificates{}, err
	}
	kcCert, kcKey, err := ca.EnsureCert(dir, "apiserver-kubelet-client", pki.CertSpec{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}})
	if err != nil {
		return certificates{}, err
	}
	if err := pki.WriteKubeconfig(o.KubeconfigPath(), o.localURL(), ca.CertPath, adminCert, adminKey, "admin"); err != nil {
		return certificates{}, fmt.Errorf("write admin kubeconfig: %w", err)
	}
	if err := ensureComponentKubeconfigs(o, ca); err != nil {
		return certificates{}, err
	}
	return certificates{
		caCert: ca.CertPath, servingCert: servingCert, servingKey: servingKey,
		frontProxyCA: frontProxyCA.CertPath, frontProxyClientCert: fpCert, frontProxyClientKey: fpKey,
		kubeletClientCert: kcCert, kubeletClientKey: kcKey,
	}, nil
}

// applyStorage builds the storage factory over etcd with upstream's key
// layout, protobuf encoding and watch cache.
func (c *Config) applyStorage(embedded *etcd.Server) error {
	o := c.Options
	etcdOpts := genericoptions.NewEtcdOptions(storagebackend.NewDefaultConfig(o.EtcdPrefix, nil))
	etcdOpts.DefaultStorageMediaType = runtime.ContentTypeProtobuf
	if embedded != nil {
		etcdOpts.StorageConfig.Transport.ServerList = []string{embedded.ClientURL}
	} else {
		etcdOpts.StorageConfig.Transport.ServerList = o.EtcdServers
		etcdOpts.StorageConfig.Transport.TrustedCAFile = o.EtcdCAFile
		etcdOpts.StorageConfig.Transport.CertFile = o.EtcdCertFile
		etcdOpts.StorageConfig.Transport.KeyFile = o.EtcdKeyFile
	}
	// Events churn and are read rarely: upstream keeps them out of the
	// watch cache.
	etcdOpts.WatchCacheSizes = []string{"events#0", "events.events.k8s.io#0"}
	etcdOpts.EncryptionProviderConfigFilepath = o.EncryptionProviderConfig
	etcdOpts.EncryptionProviderConfigAutomaticReload = o.EncryptionProviderConfigAutomaticReload

	resourceConfig := serverstorage.NewResourceConfig()
	resourceConfig.EnableVersions(scheme.GroupVersions()...)
	c.Generic.MergedResourceConfig = resourceConfig

	encoding := serverstorage.NewDefaultResourceEncodingConfigForEffectiveVersion(scheme.Scheme, c.Generic.EffectiveVersion)
	factory := serverstorage.NewDefaultStorageFactory(etcdOpts.StorageConfig, etcdOpts.DefaultStorageMediaType, scheme.Codecs,
		encoding, resourceConfig, specialResourcePrefixes)
	factory.AddCohabitatingResources(schema.GroupResource{Resource: "events"}, schema.GroupResource{Group: "events.k8s.io", Resource: "events"})
	factory.StorageConfig.StorageObjectCountTracker = c.Generic.StorageObjectCountTracker
	if err := etcdOpts.ApplyWithStorageFactoryTo(factory, &c.Generic.Config); err != nil {
		return fmt.Errorf("etcd storage: %w", err)
	}
	c.StorageFactory = factory
	c.etcdOptions = etcdOpts
	return nil
}

func firstIP(n *net.IPNet) (net.IP, error) {
	ip := make(net.IP, len(n.IP))
	copy(ip, n.IP)
	for i := len(ip) - 1; i >= 0; i-- {
		ip[i]++
		if ip[i] != 0 {
			break
		}
	}
	if !n.Contains(ip) {
		return nil, fmt.Errorf("service CIDR %s has no usable address", n)
	}
	return ip, nil
}
