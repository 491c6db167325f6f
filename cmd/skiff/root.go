package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"k8s.io/component-base/version/verflag"
)

const defaultDataDir = "/var/lib/skiff"

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "skiff",
		Short: "A Kubernetes cluster in one binary",
		Long: `skiff runs a conformant Kubernetes cluster from one binary.

  skiff server            API server, etcd, controllers and scheduler (and a node)
  skiff apiserver         the API server alone (with embedded or external etcd)
  skiff controller-manager the controllers alone
  skiff agent             a node: kubelet over a supervised containerd
  skiff proxy             the service proxy (kube-proxy, iptables mode)
  skiff image import|ls   load image tars into the node (no registry needed)
  skiff scheduler         the scheduler alone
  skiff sim-nodes         simulated nodes, for tests and benchmarks at scale
  skiff kubectl ...       kubectl, pointed at this machine's cluster`,
		SilenceUsage: true,
	}
	verflag.AddFlags(root.PersistentFlags())
	root.PersistentPreRun = func(*cobra.Command, []string) { verflag.PrintAndExitIfRequested() }
	root.Run = func(cmd *cobra.Command, _ []string) {
		verflag.PrintAndExitIfRequested()
		_ = cmd.Help()
	}
	root.AddCommand(newServerCommand(), newAPIServerCommand(), newControllerManagerCommand(), newSchedulerCommand(), newAgentCommand(), newProxyCommand(), newImageCommand(), newSimNodesCommand(), newKubectlHelpCommand())
	return root
}

// newKubectlHelpCommand documents `skiff kubectl`; main dispatches it before
// cobra parses anything, so this only appears in help.
func newKubectlHelpCommand() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl",
		Short:              "Run kubectl against this machine's cluster (KUBECONFIG defaults to <data-dir>/admin.kubeconfig)",
		DisableFlagParsing: true,
		Run:                func(*cobra.Command, []string) {},
	}
}

// defaultKubeconfig points kubectl at the local admin kubeconfig when the
// user has not chosen one, as k3s does.
func defaultKubeconfig() {
	if os.Getenv("KUBECONFIG") != "" {
		return
	}
	for _, a := range os.Args {
		if a == "--kubeconfig" || len(a) > 13 && a[:13] == "--kubeconfig=" {
			return
		}
	}
	path := filepath.Join(defaultDataDir, "admin.kubeconfig")
	if _, err := os.Stat(path); err == nil {
		os.Setenv("KUBECONFIG", path)
	}
}
