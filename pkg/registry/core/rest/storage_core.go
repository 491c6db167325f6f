// Package rest builds the storage of the core ("legacy", /api/v1) group.
package rest

import (
	"fmt"

	"github.com/skiff-project/skiff/pkg/registry/core/componentstatus"
	"github.com/skiff-project/skiff/pkg/registry/core/configmap"
	"github.com/skiff-project/skiff/pkg/registry/core/endpoint"
	"github.com/skiff-project/skiff/pkg/registry/core/event"
	"github.com/skiff-project/skiff/pkg/registry/core/limitrange"
	"github.com/skiff-project/skiff/pkg/registry/core/namespace"
	"github.com/skiff-project/skiff/pkg/registry/core/node"
	"github.com/skiff-project/skiff/pkg/registry/core/persistentvolume"
	"github.com/skiff-project/skiff/pkg/registry/core/persistentvolumeclaim"
	"github.com/skiff-project/skiff/pkg/registry/core/pod"
	"github.com/skiff-project/skiff/pkg/registry/core/podtemplate"
	"github.com/skiff-project/skiff/pkg/registry/core/replicationcontroller"
	"github.com/skiff-project/skiff/pkg/registry/core/resourcequota"
	"github.com/skiff-project/skiff/pkg/registry/core/secret"
	"github.com/skiff-project/skiff/pkg/registry/core/service"
	"github.com/skiff-project/skiff/pkg/registry/core/serviceaccount"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// GroupName is the core group's name: empty.
const GroupName = ""

// NewStorage returns the storage of every core/v1 resource by path
// ("pods", "pods/status", ...).
func NewStorage(c generic.StorageConfig) (generic.GroupStorage, error) {
	v1 := generic.VersionStorage{}

	cm, err := configmap.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("configmaps: %w", err)
	}
	v1["configmaps"] = cm

	ns, err := namespace.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("namespaces: %w", err)
	}
	v1["namespaces"] = ns.Namespace
	v1["namespaces/status"] = ns.Status
	v1["namespaces/finalize"] = ns.Finalize

	pods, err := pod.NewStorage(c)
	if err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	v1["pods"] = pods.Pod
	v1["pods/status"] = pods.Status
	v1["pods/binding"] = pods.Binding
	v1["bindings"] = pods.LegacyBinding
	v1["pods/eviction"] = pods.Eviction
	v1["pods/ephemeralcontainers"] = pods.EphemeralContainers
	v1["pods/resize"] = pods.Resize
	v1["pods/log"] = pods.Log
	v1["pods/exec"] = pods.Exec
	v1["pods/attach"] = pods.Attach
	v1["pods/portforward"] = pods.PortForward
	v1["pods/proxy"] = pods.Proxy

	podTemplates, err := podtemplate.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("podtemplates: %w", err)
	}
	v1["podtemplates"] = podTemplates

	events, err := event.NewREST(c.RESTOptionsGetter, c.EventTTL)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	v1["events"] = events

	limitRanges, err := limitrange.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("limitranges: %w", err)
	}
	v1["limitranges"] = limitRanges

	quotas, err := resourcequota.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("resourcequotas: %w", err)
	}
	v1["resourcequotas"] = quotas.ResourceQuota
	v1["resourcequotas/status"] = quotas.Status

	secrets, err := secret.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	v1["secrets"] = secrets

	serviceAccounts, err := serviceaccount.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("serviceaccounts: %w", err)
	}
	v1["serviceaccounts"] = serviceAccounts

	// Services allocate ClusterIPs and NodePorts; their repair loops start
	// in the services storage's post-start hook (service.REST.PostStartHook).
	svc, err := service.NewStorage(c)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	v1["services"] = svc.Service
	v1["services/status"] = svc.Status
	v1["services/proxy"] = svc.Proxy

	// Endpoints, nodes, persistent volumes and claims, replication
	// controllers, component statuses.
	endpoints, err := endpoint.NewREST(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("endpoints: %w", err)
	}
	v1["endpoints"] = endpoints

	// nodes/proxy reaches kubelets: their transport carries the API
	// server's kubelet-client certificate (kubelets require one).
	nodes, err := node.NewStorage(c.RESTOptionsGetter, c.KubeletClientConfig.Transport)
	if err != nil {
		return nil, fmt.Errorf("nodes: %w", err)
	}
	v1["nodes"] = nodes.Node
	v1["nodes/status"] = nodes.Status
	v1["nodes/proxy"] = nodes.Proxy

	pvs, err := persistentvolume.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("persistentvolumes: %w", err)
	}
	v1["persistentvolumes"] = pvs.PersistentVolume
	v1["persistentvolumes/status"] = pvs.Status

	pvcs, err := persistentvolumeclaim.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("persistentvolumeclaims: %w", err)
	}
	v1["persistentvolumeclaims"] = pvcs.PersistentVolumeClaim
	v1["persistentvolumeclaims/status"] = pvcs.Status

	rcs, err := replicationcontroller.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("replicationcontrollers: %w", err)
	}
	v1["replicationcontrollers"] = rcs.ReplicationController
	v1["replicationcontrollers/status"] = rcs.Status
	v1["replicationcontrollers/scale"] = rcs.Scale

	componentStatuses, err := componentstatus.NewStorage(c.RESTOptionsGetter)
	if err != nil {
		return nil, fmt.Errorf("componentstatuses: %w", err)
	}
	v1["componentstatuses"] = componentStatuses

	// TokenRequest: tokens bound to pods, secrets or nodes.
	if c.ServiceAccountTokens != nil {
		v1["serviceaccounts/token"] = serviceaccount.NewTokenREST(serviceAccounts, pods.Pod, secrets, nodes.Node, *c.ServiceAccountTokens, c.APIAudiences)
	}

	return generic.GroupStorage{"v1": v1}, nil
}
