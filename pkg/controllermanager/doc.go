// Package controllermanager runs skiff's controllers (pkg/controller/<name>)
// as one process: shared informers, one leader-elected Lease in kube-system,
// and upstream's --controllers selection syntax. It talks to the API server
// only through client-go.
package controllermanager
