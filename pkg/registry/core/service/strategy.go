// Package service serves core/v1 Services with their status and proxy
// subresources. Creating, updating and deleting a Service allocates and
// releases its ClusterIPs (IPAddress objects in ServiceCIDRs, see
// ipallocator) and NodePorts (an etcd bitmap, see portallocator); repair
// loops, started by the storage's post-start hook, keep both in line with
// the stored Services.
package service

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	apigeneric "k8s.io/apiserver/pkg/registry/generic"
	serviceapi "k8s.io/kubernetes/pkg/api/service"
	v1service "k8s.io/kubernetes/pkg/api/v1/service"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/generic"
)

// serviceStrategy keeps the status, clears fields a type change made
// meaningless, and validates with upstream's rules. Allocation happens in
// the store's Begin hooks (storage.go), before validation.
type serviceStrategy struct {
	generic.Strategy
}

var strategy = serviceStrategy{generic.NewStrategy(true)}

func (serviceStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.StatusResetFields("v1")
}

// AllowCreateOnUpdate is true for Services, as upstream: PUT may create one.
func (serviceStrategy) AllowCreateOnUpdate(ctx context.Context) bool { return true }

func (serviceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	obj.(*corev1.Service).Status = corev1.ServiceStatus{}
}

func (serviceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	svc.Status = oldSvc.Status
	dropTypeDependentFields(svc, oldSvc)
}

func (serviceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, corevalidation.ValidateServiceCreate)
}

func (serviceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateServiceUpdate)
}

func (serviceStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	return serviceWarnings(obj, nil)
}

func (serviceStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return serviceWarnings(obj, old)
}

// serviceWarnings runs upstream's warnings on the internal form.
func serviceWarnings(obj, old runtime.Object) []string {
	svc, err := rules.ToInternal(obj)
	if err != nil {
		return nil
	}
	var oldSvc *core.Service
	if old != nil {
		o, err := rules.ToInternal(old)
		if err != nil {
			return nil
		}
		oldSvc = o.(*core.Service)
	}
	return serviceapi.GetWarningsForService(svc.(*core.Service), oldSvc)
}

type serviceStatusStrategy struct {
	serviceStrategy
}

var statusStrategy = serviceStatusStrategy{strategy}

func (serviceStatusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return generic.SpecResetFields("v1")
}

func (serviceStatusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	obj.(*corev1.Service).Spec = old.(*corev1.Service).Spec
}

func (serviceStatusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, corevalidation.ValidateServiceStatusUpdate)
}

// WarningsOnUpdate warns about load-balancer ingress IPs as upstream does.
func (serviceStatusStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	var warnings []string
	path := field.NewPath("status", "loadBalancer", "ingress")
	for i, ingress := range obj.(*corev1.Service).Status.LoadBalancer.Ingress {
		if ingress.IP != "" {
			warnings = append(warnings, utilvalidation.GetWarningsForIP(path.Index(i), ingress.IP)...)
		}
	}
	return warnings
}

// getAttrs adds spec.clusterIP and spec.type to the selectable fields.
func getAttrs(obj runtime.Object) (labels.Set, fields.Set, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil, fmt.Errorf("not a service: %T", obj)
	}
	return svc.Labels, apigeneric.MergeFieldsSets(apigeneric.ObjectMetaFieldsSet(&svc.ObjectMeta, true), fields.Set{
		"spec.clusterIP": svc.Spec.ClusterIP,
		"spec.type":      string(svc.Spec.Type),
	}), nil
}

// dropTypeDependentFields clears, on a type change, the fields the new type
// does not use, when the user left them as they were (they may have been
// allocated or defaulted for the old type). Allocated values are released
// by the update's allocation step.
func dropTypeDependentFields(svc, oldSvc *corev1.Service) {
	if needsClusterIP(oldSvc) && !needsClusterIP(svc) {
		if sameClusterIPs(oldSvc, svc) && oldSvc.Spec.ClusterIP == svc.Spec.ClusterIP {
			svc.Spec.ClusterIP = ""
			svc.Spec.ClusterIPs = nil
		}
		if reflect.DeepEqual(oldSvc.Spec.IPFamilies, svc.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if ipFamilyPolicy(oldSvc) == ipFamilyPolicy(svc) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if hasNodePortType(oldSvc) && !hasNodePortType(svc) && nodePorts(oldSvc).IsSuperset(nodePorts(svc)) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHCNodePort(oldSvc) && !needsHCNodePort(svc) && oldSvc.Spec.HealthCheckNodePort == svc.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if oldSvc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if svc.Spec.AllocateLoadBalancerNodePorts != nil && oldSvc.Spec.AllocateLoadBalancerNodePorts != nil &&
			*svc.Spec.AllocateLoadBalancerNodePorts == *oldSvc.Spec.AllocateLoadBalancerNodePorts {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if reflect.DeepEqual(svc.Spec.LoadBalancerClass, oldSvc.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if v1service.ExternallyAccessible(oldSvc) && !v1service.ExternallyAccessible(svc) &&
		oldSvc.Spec.ExternalTrafficPolicy == svc.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	// Load-balancer status means nothing for other types.
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

// hasNodePortType is true for the types whose ports may carry NodePorts.
func hasNodePortType(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer
}

func nodePorts(svc *corev1.Service) sets.Set[int32] {
	out := sets.New[int32]()
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			out.Insert(p.NodePort)
		}
	}
	return out
}

func ipFamilyPolicy(svc *corev1.Service) corev1.IPFamilyPolicy {
	if svc.Spec.IPFamilyPolicy == nil {
		return ""
	}
	return *svc.Spec.IPFamilyPolicy
}

func sameClusterIPs(a, b *corev1.Service) bool {
	return slices.Equal(a.Spec.ClusterIPs, b.Spec.ClusterIPs)
}
