package controllermanager

import (
	"context"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	certutil "k8s.io/client-go/util/cert"

	"github.com/skiff-project/skiff/pkg/controller/garbagecollector"
	"github.com/skiff-project/skiff/pkg/controller/namespace"
	"github.com/skiff-project/skiff/pkg/controller/rootcacertpublisher"
	"github.com/skiff-project/skiff/pkg/controller/serviceaccount"
)

// Upstream's worker counts (kube-controller-manager defaults).
const (
	concurrentNamespaceSyncs = 10
	concurrentGCSyncs        = 20
)

// NewControllers returns every controller skiff can run, by upstream's
// controller name. Each lives in its own package under pkg/controller.
func NewControllers() map[string]Controller {
	return map[string]Controller{
		"namespace-controller":                     {OnByDefault: true, Aliases: []string{"namespace"}, Start: startNamespaceController},
		"garbage-collector-controller":             {OnByDefault: true, Aliases: []string{"garbagecollector"}, Start: startGarbageCollector},
		"serviceaccount-controller":                {OnByDefault: true, Aliases: []string{"serviceaccount"}, Start: startServiceAccountController},
		"root-ca-certificate-publisher-controller": {OnByDefault: true, Aliases: []string{"root-ca-cert-publisher"}, Start: startRootCACertPublisher},
	}
}

func startNamespaceController(ctx context.Context, cc ControllerContext) error {
	// Emptying a namespace is many discovery, list and delete calls; like
	// upstream, this client gets a far larger rate limit than the rest.
	cfg := cc.ConfigFor("namespace-controller")
	cfg.QPS *= 20
	cfg.Burst *= 100
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	c, err := namespace.NewController(client, metadataClient, client.Discovery().ServerPreferredNamespacedResources,
		cc.InformerFactory.Core().V1().Namespaces(), corev1.FinalizerKubernetes)
	if err != nil {
		return err
	}
	go c.Run(ctx, concurrentNamespaceSyncs)
	return nil
}

func startGarbageCollector(ctx context.Context, cc ControllerContext) error {
	cfg := cc.ConfigFor("generic-garbage-collector")
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// Each collection is a get and a delete: twice the request rate.
	cfg.QPS *= 2
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// A discovery client of its own: the collector resets the shared
	// REST mapper when it sees new resources, which would otherwise
	// invalidate the very cache it just read.
	gc, err := garbagecollector.NewController(client, metadataClient, cc.RESTMapper, client.Discovery(), garbagecollector.DefaultIgnoredResources())
	if err != nil {
		return err
	}
	go gc.Run(ctx, concurrentGCSyncs)
	return nil
}

func startServiceAccountController(ctx context.Context, cc ControllerContext) error {
	client, err := cc.ClientFor("service-account-controller")
	if err != nil {
		return err
	}
	c, err := serviceaccount.NewController(client, cc.InformerFactory.Core().V1().ServiceAccounts(),
		cc.InformerFactory.Core().V1().Namespaces(), serviceaccount.DefaultServiceAccounts())
	if err != nil {
		return err
	}
	go c.Run(ctx, 1)
	return nil
}

func startRootCACertPublisher(ctx context.Context, cc ControllerContext) error {
	rootCA, err := rootCABundle(cc)
	if err != nil {
		return err
	}
	client, err := cc.ClientFor("root-ca-cert-publisher")
	if err != nil {
		return err
	}
	p, err := rootcacertpublisher.NewController(client, cc.InformerFactory.Core().V1().ConfigMaps(),
		cc.InformerFactory.Core().V1().Namespaces(), rootCA)
	if err != nil {
		return err
	}
	go p.Run(ctx, 1)
	return nil
}

// rootCABundle is --root-ca-file, or else the CA the controller-manager
// itself trusts for the API server (upstream's fallback).
func rootCABundle(cc ControllerContext) ([]byte, error) {
	if cc.Options.RootCAFile == "" {
		if len(cc.Config.CAData) > 0 {
			return cc.Config.CAData, nil
		}
		if cc.Config.CAFile == "" {
			return nil, fmt.Errorf("no --root-ca-file and the kubeconfig names no CA")
		}
		return readCA(cc.Config.CAFile)
	}
	return readCA(cc.Options.RootCAFile)
}

// readCA reads a PEM bundle and checks that it holds certificates.
func readCA(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read root CA file: %w", err)
	}
	if _, err := certutil.ParseCertsPEM(data); err != nil {
		return nil, fmt.Errorf("error parsing root-ca-file at %s: %w", path, err)
	}
	return data, nil
}
