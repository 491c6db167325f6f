package main

import (
	"fmt"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/apiserver"
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
			return apiserver.Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func newServerCommand() *cobra.Command {
	o := apiserver.NewOptions()
	var disableAgent bool
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a control plane: API server, etcd, controllers, scheduler (and a node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			if !disableAgent {
				fmt.Fprintln(cmd.ErrOrStderr(), "skiff: the node agent is not built yet; running the control plane only (as with --disable-agent)")
			}
			return apiserver.Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	cmd.Flags().BoolVar(&disableAgent, "disable-agent", false, "Do not run a kubelet and kube-proxy on this machine.")
	return cmd
}
