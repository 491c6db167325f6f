// Package endpointslice serves discovery.k8s.io/v1 EndpointSlices.
package endpointslice

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	discoveryvalidation "k8s.io/kubernetes/pkg/apis/discovery/validation"

	"github.com/skiff-project/skiff/pkg/registry/generic"
)

const (
	// preferSameTrafficDistribution gates endpoints[].hints.forNodes
	// (upstream's features.PreferSameTrafficDistribution).
	preferSameTrafficDistribution featuregate.Feature = "PreferSameTrafficDistribution"

	// The managed-by values of upstream's EndpointSlice controllers. Their
	// slices are built from already-sanitized IPs, so upstream skips the
	// IP warnings for them.
	endpointSliceControllerName          = "endpointslice-controller.k8s.io"
	endpointSliceMirroringControllerName = "endpointslicemirroring-controller.k8s.io"
)

type endpointSliceStrategy struct {
	generic.Strategy
}

var strategy = endpointSliceStrategy{generic.NewStrategy(true)}

// PrepareForCreate starts the generation at 1 and drops fields that are
// disabled or that the v1 API does not accept.
func (endpointSliceStrategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	eps := obj.(*discoveryv1.EndpointSlice)
	eps.Generation = 1
	dropDisabledFieldsOnCreate(eps)
	dropTopologyOnV1(ctx, nil, eps)
}

// PrepareForUpdate bumps the generation when anything but the metadata
// changed, or the labels changed (EndpointSlices have no spec: endpoints,
// ports and addressType are top level).
func (endpointSliceStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	eps, oldEPS := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
	if contentChanged(eps, oldEPS) || !apiequality.Semantic.DeepEqual(eps.Labels, oldEPS.Labels) {
		eps.Generation = oldEPS.Generation + 1
	}
	dropDisabledFieldsOnUpdate(oldEPS, eps)
	dropTopologyOnV1(ctx, oldEPS, eps)
}

// contentChanged compares everything but the metadata.
func contentChanged(a, b *discoveryv1.EndpointSlice) bool {
	ac, bc := *a, *b
	ac.ObjectMeta, bc.ObjectMeta = metav1.ObjectMeta{}, metav1.ObjectMeta{}
	ac.TypeMeta, bc.TypeMeta = metav1.TypeMeta{}, metav1.TypeMeta{}
	return !apiequality.Semantic.DeepEqual(ac, bc)
}

func (endpointSliceStrategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return generic.Validate(obj, discoveryvalidation.ValidateEndpointSliceCreate)
}

func (endpointSliceStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return generic.ValidateUpdate(obj, old, discoveryvalidation.ValidateEndpointSliceUpdate)
}

func (endpointSliceStrategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string {
	eps := obj.(*discoveryv1.EndpointSlice)
	var warnings []string
	if eps.AddressType == discoveryv1.AddressTypeFQDN {
		warnings = append(warnings, fmt.Sprintf("%s: FQDN endpoints are deprecated", field.NewPath("spec", "addressType")))
	}
	return append(warnings, ipWarnings(eps)...)
}

func (endpointSliceStrategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return ipWarnings(obj.(*discoveryv1.EndpointSlice))
}

// ipWarnings warns about ambiguous endpoint addresses, except in slices
// written by upstream's (or skiff's equivalent) EndpointSlice controllers.
func ipWarnings(eps *discoveryv1.EndpointSlice) []string {
	switch eps.Labels[discoveryv1.LabelManagedBy] {
	case endpointSliceControllerName, endpointSliceMirroringControllerName:
		return nil
	}
	var warnings []string
	for i, ep := range eps.Endpoints {
		for j, addr := range ep.Addresses {
			warnings = append(warnings, utilvalidation.GetWarningsForIP(field.NewPath("endpoints").Index(i).Child("addresses").Index(j), addr)...)
		}
	}
	return warnings
}

// dropDisabledFieldsOnCreate drops hints.forNodes while its feature is off.
func dropDisabledFieldsOnCreate(eps *discoveryv1.EndpointSlice) {
	if utilfeature.DefaultFeatureGate.Enabled(preferSameTrafficDistribution) {
		return
	}
	clearForNodesHints(eps)
}

// dropDisabledFieldsOnUpdate drops hints.forNodes while its feature is off,
// unless the stored slice already uses it.
func dropDisabledFieldsOnUpdate(oldEPS, eps *discoveryv1.EndpointSlice) {
	if utilfeature.DefaultFeatureGate.Enabled(preferSameTrafficDistribution) {
		return
	}
	for _, ep := range oldEPS.Endpoints {
		if ep.Hints != nil && ep.Hints.ForNodes != nil {
			return
		}
	}
	clearForNodesHints(eps)
}

func clearForNodesHints(eps *discoveryv1.EndpointSlice) {
	for i := range eps.Endpoints {
		if eps.Endpoints[i].Hints != nil {
			eps.Endpoints[i].Hints.ForNodes = nil
		}
	}
}

// dropTopologyOnV1 clears endpoints[].deprecatedTopology, which the v1 API
// documents as write-ignored. A kubernetes.io/hostname entry naming a node
// the stored slice already had is moved into nodeName, so that clients
// round-tripping an old object keep the node.
func dropTopologyOnV1(ctx context.Context, oldEPS, eps *discoveryv1.EndpointSlice) {
	info, ok := genericapirequest.RequestInfoFrom(ctx)
	if !ok {
		return
	}
	if info.APIGroup == discoveryv1.GroupName && info.APIVersion == "v1beta1" {
		return
	}
	if oldEPS != nil && apiequality.Semantic.DeepEqual(oldEPS.Endpoints, eps.Endpoints) {
		return
	}
	previous := topologyNodeNames(oldEPS)
	for i := range eps.Endpoints {
		ep := &eps.Endpoints[i]
		if name, ok := ep.DeprecatedTopology[corev1.LabelHostname]; ok && ep.NodeName == nil &&
			previous.Has(name) && len(corevalidation.ValidateNodeName(name, false)) == 0 {
			ep.NodeName = &name
		}
		ep.DeprecatedTopology = nil
	}
}

// topologyNodeNames are the node names in the deprecatedTopology of eps.
func topologyNodeNames(eps *discoveryv1.EndpointSlice) sets.Set[string] {
	names := sets.New[string]()
	if eps == nil {
		return names
	}
	for _, ep := range eps.Endpoints {
		if name := ep.DeprecatedTopology[corev1.LabelHostname]; name != "" {
			names.Insert(name)
		}
	}
	return names
}
