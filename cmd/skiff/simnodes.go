package main

import (
	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"

	"github.com/skiff-project/skiff/pkg/simulator"
)

func newSimNodesCommand() *cobra.Command {
	o := simulator.NewOptions()
	cmd := &cobra.Command{
		Use:   "sim-nodes",
		Short: "Run simulated nodes: registered, Ready, and running their pods without containers",
		Long: `Run simulated nodes against the API server given by --kubeconfig.

Each node is registered with the given capacity, keeps its Lease and Ready
condition fresh, and drives the pods bound to it through their phases as if
they ran: Pending -> Running with an IP from the node's pod CIDR; pods of
Jobs (and pods with the ` + simulator.RunDurationAnnotation + ` annotation)
complete after their run duration; deleted pods disappear after their grace
period.

Simulated nodes carry the label ` + simulator.SimulatedLabel + `=true and, by default,
the taint ` + simulator.SimulatedLabel + `=true:NoSchedule; pods tolerate it to land there:

  tolerations:
  - key: ` + simulator.SimulatedLabel + `
    operator: Exists`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			return simulator.Run(genericapiserver.SetupSignalContext(), o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}
