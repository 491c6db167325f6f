// Command skiff is a Kubernetes cluster in one binary.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
)

func main() {
	// `skiff kubectl ...` is upstream's kubectl, parsed by kubectl itself so
	// that every kubectl flag works unchanged.
	if len(os.Args) > 1 && os.Args[1] == "kubectl" {
		os.Args = os.Args[1:]
		defaultKubeconfig()
		os.Exit(cli.Run(kubectlcmd.NewDefaultKubectlCommand()))
	}
	os.Exit(cli.Run(newRootCommand()))
}
