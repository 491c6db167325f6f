package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/addons"
	"github.com/skiff-project/skiff/pkg/agent"
	"github.com/skiff-project/skiff/pkg/apiserver"
	"github.com/skiff-project/skiff/pkg/controller/volume/localpath"
	"github.com/skiff-project/skiff/pkg/controllermanager"
	"github.com/skiff-project/skiff/pkg/scheduler"
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
	ag := agent.NewOptions()
	sched := scheduler.NewOptions()
	var disableAgent bool
	var disabled []string
	var localStoragePath string
	var cmArgs []string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a control plane: API server, etcd, controllers, scheduler (and a node agent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if errs := o.Validate(); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			if err := parseControllerManagerArgs(cm, cmArgs); err != nil {
				return err
			}
			controllers := controllermanager.NewControllers()
			cm.Complete(controllers)
			if errs := cm.Validate(controllermanager.KnownControllers(controllers)); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			// The cluster DNS addon's Service IP is the node's --cluster-dns
			// (default 10.96.0.10, given to pods unless coredns is disabled).
			if len(ag.ClusterDNS) > 0 {
				addonOpts.ClusterDNS = ag.ClusterDNS[0]
			} else if !contains(disabled, "coredns") {
				ag.ClusterDNS = []string{addonOpts.ClusterDNS}
			}
			addonOpts.ClusterDomain = ag.ClusterDomain
			if errs := validateServerExtras(o, addonOpts, disabled); len(errs) > 0 {
				return utilerrors.NewAggregate(errs)
			}
			addonOpts.Disabled = disabled
			if !disableAgent {
				if errs := ag.Validate(); len(errs) > 0 {
					return utilerrors.NewAggregate(errs)
				}
			}
			ctx, cancel := context.WithCancel(genericapiserver.SetupSignalContext())
			defer cancel()
			runControllers := !contains(disabled, "controller-manager")
			runScheduler := !contains(disabled, "scheduler")
			// The other roles talk to the API server like any client, each
			// with its own identity (never the admin's).
			cm.Kubeconfig = o.ControllerManagerKubeconfigPath()
			if cm.RootCAFile == "" {
				cm.RootCAFile = o.CACertPath()
			}
			sched.Kubeconfig = o.SchedulerKubeconfigPath()
			if sched.ConfigFile == "" {
				// The API server is local: no need for upstream's 50 QPS.
				sched.SetClientRate(5000, 10000)
			}
			// The local-path provisioner (k3s's local-storage): volumes under
			// the data dir, and its default StorageClass created at start.
			localStorage := !contains(disabled, "local-storage")
			switch {
			case !localStorage:
				cm.LocalPathDir = ""
			case localStoragePath != "":
				cm.LocalPathDir = localStoragePath
			default:
				cm.LocalPathDir = filepath.Join(o.DataDir, "storage")
			}
			// Certificates for CSRs (kubelets joining) come from the
			// cluster CA.
			if cm.ClusterSigningCertFile == "" && cm.ClusterSigningKeyFile == "" {
				cm.ClusterSigningCertFile = o.CACertPath()
				cm.ClusterSigningKeyFile = filepath.Join(filepath.Dir(o.CACertPath()), "ca.key")
			}
			if cm.ServiceAccountPrivateKeyFile == "" {
				cm.ServiceAccountPrivateKeyFile = o.ServiceAccountSigningKeyPath()
			}
			// The node talks to the API as system:node:<name>, the identity
			// the Node authorizer and NodeRestriction expect.
			ag.DataDir, ag.Kubeconfig, ag.ClientCAFile = o.DataDir, o.KubeletKubeconfigPath(), o.CACertPath()
			ag.ProxyKubeconfig = o.KubeProxyKubeconfigPath()
			var agentRunning sync.WaitGroup
			defer agentRunning.Wait() // the agent stops its containerd last
			return apiserver.Run(ctx, o, func(loopback *rest.Config) {
				if localStorage {
					go ensureLocalStorageClass(ctx, loopback)
				}
				if runScheduler {
					go func() {
						// A scheduler that lost its Lease drops its state and
						// campaigns again; the server keeps serving.
						err := scheduler.Run(ctx, sched, nil)
						for errors.Is(err, scheduler.ErrLeaderElectionLost) && ctx.Err() == nil {
							klog.InfoS("Scheduler lost its Lease; campaigning again")
							err = scheduler.Run(ctx, sched, nil)
						}
						if err != nil {
							klog.ErrorS(err, "Scheduler stopped; stopping the server")
							cancel()
						}
					}()
				}
				startServerExtras(ctx, loopback, addonOpts, disabled)
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
	fs.StringSliceVar(&disabled, "disable", nil, "Components not to run in this process: controller-manager, scheduler, local-storage (the local-path provisioner and its StorageClass), servicelb (LoadBalancer addresses), coredns (cluster DNS addon).")
	fs.StringVar(&sched.ConfigFile, "scheduler-config", "", "KubeSchedulerConfiguration file for the scheduler.")
	fs.StringVar(&localStoragePath, "default-local-storage-path", "", "Directory of the local-path provisioner's volumes (default <data-dir>/storage).")
	// As kubeadm does, the server also runs the bootstrap-token controllers.
	cm.Controllers = []string{"*", "bootstrap-signer-controller", "token-cleaner-controller"}
	fs.StringSliceVar(&cm.Controllers, "controllers", cm.Controllers, "Controllers to run: '*' for all enabled by default, 'foo' to enable foo, '-foo' to disable foo.")
	fs.StringVar(&cm.ClusterCIDR, "cluster-cidr", cm.ClusterCIDR, "CIDR of pod IPs; each node gets a subnet of it.")
	fs.StringArrayVar(&cmArgs, "kube-controller-manager-arg", nil, "Flag of `skiff controller-manager` for the embedded controllers, as name=value (repeatable; e.g. node-monitor-grace-period=20s), as k3s accepts it.")
	return cmd
}

// parseControllerManagerArgs applies k3s-style name=value flags to the
// embedded controller-manager's options, with the same flag set (and so
// the same names, types and errors) as `skiff controller-manager`.
func parseControllerManagerArgs(cm *controllermanager.Options, args []string) error {
	if len(args) == 0 {
		return nil
	}
	fs := pflag.NewFlagSet("kube-controller-manager-arg", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cm.AddFlags(fs)
	flags := make([]string, 0, len(args))
	for _, a := range args {
		flags = append(flags, "--"+strings.TrimPrefix(a, "--"))
	}
	if err := fs.Parse(flags); err != nil {
		return fmt.Errorf("--kube-controller-manager-arg: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("--kube-controller-manager-arg: unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// ensureLocalStorageClass creates the default local-path StorageClass, as
// k3s deploys it, retrying until the API server takes it.
func ensureLocalStorageClass(ctx context.Context, loopback *rest.Config) {
	client, err := kubernetes.NewForConfig(rest.AddUserAgent(loopback, "skiff-server/local-storage"))
	if err != nil {
		klog.ErrorS(err, "Cannot create the local-path StorageClass")
		return
	}
	_ = wait.PollUntilContextCancel(ctx, 2*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := localpath.EnsureStorageClass(ctx, client); err != nil {
			klog.ErrorS(err, "Creating the local-path StorageClass; retrying")
			return false, nil
		}
		return true, nil
	})
}
