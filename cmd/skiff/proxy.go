package main

import (
	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/proxy"
)

func newProxyCommand() *cobra.Command {
	o := proxy.NewOptions()
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Run the service proxy (kube-proxy, iptables mode) against an API server given by --kubeconfig",
		Long: `Run the service proxy: Services and EndpointSlices become iptables rules
(nf_tables backend) in upstream kube-proxy's chains. It changes these host
settings: net.ipv4.conf.all.route_localnet=1 (NodePorts on 127.0.0.1; off
with --iptables-localhost-nodeports=false). --cleanup removes every rule and
chain it made and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Cleanup {
				return proxy.Cleanup()
			}
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			return proxy.Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
