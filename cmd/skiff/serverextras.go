package main

import (
	"context"
	"fmt"
	"net"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/addons"
	"github.com/skiff-project/skiff/pkg/apiserver"
	"github.com/skiff-project/skiff/pkg/servicelb"
)

// serverComponents are what `skiff server --disable` accepts.
var serverComponents = []string{"controller-manager", "scheduler", "local-storage", "servicelb", "coredns"}

func validateServerExtras(o *apiserver.Options, a addons.Options, disabled []string) []error {
	errs := a.Validate()
	for _, d := range disabled {
		if !contains(serverComponents, d) {
			klog.InfoS("Unknown component in --disable; ignored", "component", d, "known", serverComponents)
		}
	}
	if _, cidr, err := net.ParseCIDR(o.ServiceClusterIPRange); err == nil && !contains(disabled, "coredns") {
		if ip := net.ParseIP(a.ClusterDNS); ip != nil && !cidr.Contains(ip) {
			errs = append(errs, fmt.Errorf("--cluster-dns %s is outside --service-cluster-ip-range %s", a.ClusterDNS, o.ServiceClusterIPRange))
		}
	}
	return errs
}

// startServerExtras starts, once the API answers, what `skiff server`
// runs besides the control plane: the service load balancer and the
// addons (cluster DNS). Both act through the API like any client, with the
// server's loopback identity (system:apiserver), as kube-apiserver's own
// controllers do, not the admin's.
func startServerExtras(ctx context.Context, cfg *restclient.Config, a addons.Options, disabled []string) {
	if !contains(disabled, "servicelb") {
		client, err := kubernetes.NewForConfig(restclient.AddUserAgent(restclient.CopyConfig(cfg), servicelb.ControllerName))
		if err != nil {
			klog.ErrorS(err, "Service load balancer not started")
		} else {
			factory := informers.NewSharedInformerFactory(client, 0)
			c, err := servicelb.NewController(client, factory)
			if err != nil {
				klog.ErrorS(err, "Service load balancer not started")
			} else {
				factory.Start(ctx.Done())
				go c.Run(ctx, 2)
			}
		}
	}
	go func() {
		if err := addons.Apply(ctx, cfg, a); err != nil && ctx.Err() == nil {
			klog.ErrorS(err, "Applying addons failed")
		}
	}()
}
