package main

import (
	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/scheduler"
)

func newSchedulerCommand() *cobra.Command {
	o := scheduler.NewOptions()
	cmd := &cobra.Command{
		Use:   "scheduler",
		Short: "Run the scheduler alone, against an API server given by --kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.MarkFlagsSet(cmd.Flags())
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			return scheduler.Run(genericapiserver.SetupSignalContext(), o, nil)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
