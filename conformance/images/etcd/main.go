// Command etcd is the etcd server (go.etcd.io/etcd/server/v3/etcdmain) at the
// version the product module uses, for the registry.k8s.io/etcd image that the
// Aggregator conformance test runs beside the sample-apiserver.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
