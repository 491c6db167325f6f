package main

import (
	"context"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/addons"
	"github.com/skiff-project/skiff/pkg/apiserver"
	"github.com/skiff-project/skiff/pkg/controllermanager"
)

func newAPIServerCommand() *cobra.Command {
	o := apiserver.NewOptions()
	cmd := &cobra.Command{
		Use:   "apiserver",
		Short: "Run the API server alone, with embedded or external etcd",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			return apiserver.Run(genericapiserver.SetupSignalContext(), o, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func newServerCommand() *cobra.Command {
	o := apiserver.NewOptions()
	cm := controllermanager.NewOptions()
	addonOpts := addons.NewOptions()
	var disableAgent bool
	var disabled []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a control plane: API server, etcd, controllers, scheduler (and a node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			controllers := controllermanager.NewControllers()
			cm.Complete(controllers)
			if errs := cm.Validate(controllermanager.KnownControllers(controllers)); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			if errs := validateServerExtras(o, addonOpts, disabled); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			addonOpts.Disabled = disabled
			if !disableAgent {
				klog.InfoS("The node agent is not built yet; running the control plane only (as with --disable-agent)")
			}
			ctx, cancel := context.WithCancel(genericapiserver.SetupSignalContext())
			defer cancel()
			runControllers := !contains(disabled, "controller-manager")
			// The other roles talk to the API server like any client, with
			// the admin kubeconfig it writes.
			cm.Kubeconfig = o.KubeconfigPath()
			if cm.RootCAFile == "" {
				cm.RootCAFile = o.CACertPath()
			}
			return apiserver.Run(ctx, o, func() {
				startServerExtras(ctx, o, addonOpts, disabled)
				if runControllers {
					go func() {
						if err := controllermanager.Run(ctx, cm, controllers); err != nil {
							klog.ErrorS(err, "Controller-manager stopped; stopping the server")
							cancel()
						}
					}()
				}
			})
		},
	}
	o.AddFlags(cmd.Flags())
	fs := cmd.Flags()
	fs.BoolVar(&disableAgent, "disable-agent", false, "Do not run a kubelet and kube-proxy on this machine.")
	fs.StringSliceVar(&disabled, "disable", nil, "Components not to run in this process: controller-manager, servicelb (LoadBalancer addresses), coredns (cluster DNS addon).")
	fs.StringVar(&addonOpts.ClusterDNS, "cluster-dns", addonOpts.ClusterDNS, "Cluster IP of the kube-dns Service (the kubelets' --cluster-dns).")
	fs.StringVar(&addonOpts.ClusterDomain, "cluster-domain", addonOpts.ClusterDomain, "DNS domain of the cluster (the kubelets' --cluster-domain).")
	fs.StringSliceVar(&cm.Controllers, "controllers", cm.Controllers, "Controllers to run: '*' for all enabled by default, 'foo' to enable foo, '-foo' to disable foo.")
	fs.StringVar(&cm.ClusterCIDR, "cluster-cidr", cm.ClusterCIDR, "CIDR of pod IPs; each node gets a subnet of it.")
	return cmd
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
