package main

import (
	"github.com/spf13/cobra"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/controllermanager"
)

func newControllerManagerCommand() *cobra.Command {
	o := controllermanager.NewOptions()
	cmd := &cobra.Command{
		Use:   "controller-manager",
		Short: "Run the controllers alone, against an API server given by --kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return controllermanager.Run(genericapiserver.SetupSignalContext(), o, controllermanager.NewControllers())
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
