package main

import (
	"context"
	"sync"

	"github.com/spf13/cobra"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/agent"
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
	ag := agent.NewOptions()
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
			if !disableAgent {
				if errs := ag.Validate(); len(errs) > 0 {
					return utilerrors.NewAggregate(errs)
				}
			}
			ctx, cancel := context.WithCancel(genericapiserver.SetupSignalContext())
			defer cancel()
			runControllers := !contains(disabled, "controller-manager")
			// The other roles talk to the API server like any client, each
			// with its own identity (never the admin's).
			cm.Kubeconfig = o.ControllerManagerKubeconfigPath()
			if cm.RootCAFile == "" {
				cm.RootCAFile = o.CACertPath()
			}
			if cm.ServiceAccountPrivateKeyFile == "" {
				cm.ServiceAccountPrivateKeyFile = o.ServiceAccountSigningKeyPath()
			}
			// The node talks to the API as system:node:<name>, the identity
			// the Node authorizer and NodeRestriction expect.
			ag.DataDir, ag.Kubeconfig, ag.ClientCAFile = o.DataDir, o.KubeletKubeconfigPath(), o.CACertPath()
			var agentRunning sync.WaitGroup
			defer agentRunning.Wait() // the agent stops its containerd last
			return apiserver.Run(ctx, o, func() {
				if !disableAgent {
					agentRunning.Add(1)
					go func() {
						defer agentRunning.Done()
						if err := agent.Run(ctx, ag); err != nil {
							klog.ErrorS(err, "Node agent stopped; stopping the server")
							cancel()
						}
					}()
				}
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
	addAgentFlags(fs, ag)
	fs.StringSliceVar(&disabled, "disable", nil, "Components not to run in this process: controller-manager.")
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
