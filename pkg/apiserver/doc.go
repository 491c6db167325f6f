// Package apiserver assembles skiff's API server from the upstream
// libraries: k8s.io/apiserver's generic server over etcd, serving the
// k8s.io/api types through skiff's registries (pkg/registry), with
// upstream's delegation chain.
//
// The shape follows upstream: Options (flags) -> Config -> Complete -> New ->
// Run. Run also owns the embedded etcd and the cluster certificates.
package apiserver
