package scheme

import (
	"fmt"
	"reflect"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	kadmissionregistrationv1 "k8s.io/kubernetes/pkg/apis/admissionregistration/v1"
	kappsv1 "k8s.io/kubernetes/pkg/apis/apps/v1"
	kauthenticationv1 "k8s.io/kubernetes/pkg/apis/authentication/v1"
	kauthorizationv1 "k8s.io/kubernetes/pkg/apis/authorization/v1"
	kautoscalingv1 "k8s.io/kubernetes/pkg/apis/autoscaling/v1"
	kautoscalingv2 "k8s.io/kubernetes/pkg/apis/autoscaling/v2"
	kbatchv1 "k8s.io/kubernetes/pkg/apis/batch/v1"
	kcertificatesv1 "k8s.io/kubernetes/pkg/apis/certificates/v1"
	kcoordinationv1 "k8s.io/kubernetes/pkg/apis/coordination/v1"
	kcorev1 "k8s.io/kubernetes/pkg/apis/core/v1"
	kdiscoveryv1 "k8s.io/kubernetes/pkg/apis/discovery/v1"
	keventsv1 "k8s.io/kubernetes/pkg/apis/events/v1"
	kflowcontrolv1 "k8s.io/kubernetes/pkg/apis/flowcontrol/v1"
	knetworkingv1 "k8s.io/kubernetes/pkg/apis/networking/v1"
	knodev1 "k8s.io/kubernetes/pkg/apis/node/v1"
	kpolicyv1 "k8s.io/kubernetes/pkg/apis/policy/v1"
	krbacv1 "k8s.io/kubernetes/pkg/apis/rbac/v1"
	kresourcev1 "k8s.io/kubernetes/pkg/apis/resource/v1"
	kschedulingv1 "k8s.io/kubernetes/pkg/apis/scheduling/v1"
	kstoragev1 "k8s.io/kubernetes/pkg/apis/storage/v1"
	kstoragemigrationv1 "k8s.io/kubernetes/pkg/apis/storagemigration/v1"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

var (
	// Scheme knows every built-in kind skiff serves, in its served versions
	// and as the internal version.
	Scheme = runtime.NewScheme()
	// Codecs encodes and decodes the kinds of Scheme.
	Codecs = serializer.NewCodecFactory(Scheme)
	// ParameterCodec converts query parameters into option structs.
	ParameterCodec = runtime.NewParameterCodec(Scheme)
)

// versionedInstall is one served group version: its scheme builder (upstream's,
// which also brings defaulters and field-label conversions) and its priority
// inside the group (first is preferred and the storage version).
type versionedInstall struct {
	gv          schema.GroupVersion
	addToScheme func(*runtime.Scheme) error
}

// ServedGroupVersions are the built-in group versions skiff serves, in the
// order of their priority inside each group.
var servedVersions = []versionedInstall{
	{kcorev1.SchemeGroupVersion, kcorev1.AddToScheme},
	{kadmissionregistrationv1.SchemeGroupVersion, kadmissionregistrationv1.AddToScheme},
	{kappsv1.SchemeGroupVersion, kappsv1.AddToScheme},
	{kauthenticationv1.SchemeGroupVersion, kauthenticationv1.AddToScheme},
	{kauthorizationv1.SchemeGroupVersion, kauthorizationv1.AddToScheme},
	{kautoscalingv2.SchemeGroupVersion, kautoscalingv2.AddToScheme},
	{kautoscalingv1.SchemeGroupVersion, kautoscalingv1.AddToScheme},
	{kbatchv1.SchemeGroupVersion, kbatchv1.AddToScheme},
	{kcertificatesv1.SchemeGroupVersion, kcertificatesv1.AddToScheme},
	{kcoordinationv1.SchemeGroupVersion, kcoordinationv1.AddToScheme},
	{kdiscoveryv1.SchemeGroupVersion, kdiscoveryv1.AddToScheme},
	{keventsv1.SchemeGroupVersion, keventsv1.AddToScheme},
	{kflowcontrolv1.SchemeGroupVersion, kflowcontrolv1.AddToScheme},
	{knetworkingv1.SchemeGroupVersion, knetworkingv1.AddToScheme},
	{knodev1.SchemeGroupVersion, knodev1.AddToScheme},
	{kpolicyv1.SchemeGroupVersion, kpolicyv1.AddToScheme},
	{krbacv1.SchemeGroupVersion, krbacv1.AddToScheme},
	{kresourcev1.SchemeGroupVersion, kresourcev1.AddToScheme},
	{kschedulingv1.SchemeGroupVersion, kschedulingv1.AddToScheme},
	{kstoragev1.SchemeGroupVersion, kstoragev1.AddToScheme},
	{kstoragemigrationv1.SchemeGroupVersion, kstoragemigrationv1.AddToScheme},
}

// GroupVersions returns the served built-in group versions in priority order.
func GroupVersions() []schema.GroupVersion {
	out := make([]schema.GroupVersion, 0, len(servedVersions))
	for _, v := range servedVersions {
		out = append(out, v.gv)
	}
	return out
}

// internalOverrides names the kinds whose internal Go type is not the served
// version's own struct.
var internalOverrides = map[schema.GroupKind]runtime.Object{
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}:     &autoscalingv2.HorizontalPodAutoscaler{},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscalerList"}: &autoscalingv2.HorizontalPodAutoscalerList{},
	{Group: "events.k8s.io", Kind: "Event"}:                     &corev1.Event{},
	{Group: "events.k8s.io", Kind: "EventList"}:                 &corev1.EventList{},
}

var metaPkgPath = reflect.TypeOf(metav1.Status{}).PkgPath()

func init() {
	utilruntime.Must(AddToScheme(Scheme))
}

// AddToScheme registers every served built-in group, its internal version,
// upstream's defaulters and the cross-type conversions into s.
func AddToScheme(s *runtime.Scheme) error {
	priorities := map[string][]schema.GroupVersion{}
	var groups []string
	for _, v := range servedVersions {
		if err := v.addToScheme(s); err != nil {
			return fmt.Errorf("install %s: %w", v.gv, err)
		}
		if _, ok := priorities[v.gv.Group]; !ok {
			groups = append(groups, v.gv.Group)
		}
		priorities[v.gv.Group] = append(priorities[v.gv.Group], v.gv)
	}
	for _, v := range servedVersions {
		internal := schema.GroupVersion{Group: v.gv.Group, Version: runtime.APIVersionInternal}
		for kind, t := range s.KnownTypes(v.gv) {
			if t.PkgPath() == metaPkgPath {
				continue
			}
			gk := schema.GroupKind{Group: v.gv.Group, Kind: kind}
			if s.Recognizes(internal.WithKind(kind)) {
				continue
			}
			if obj, ok := internalOverrides[gk]; ok {
				s.AddKnownTypeWithName(internal.WithKind(kind), obj)
				continue
			}
			s.AddKnownTypeWithName(internal.WithKind(kind), reflect.New(t).Interface().(runtime.Object))
		}
	}
	for _, g := range groups {
		if err := s.SetVersionPriority(priorities[g]...); err != nil {
			return err
		}
	}
	addStoredShapeDefaults(s)
	return addCrossTypeConversions(s)
}

// addCrossTypeConversions registers conversions between served structs and
// the internal struct of another shape, through upstream's conversions.
func addCrossTypeConversions(s *runtime.Scheme) error {
	pairs := []struct{ a, b interface{} }{
		{(*autoscalingv1.HorizontalPodAutoscaler)(nil), (*autoscalingv2.HorizontalPodAutoscaler)(nil)},
		{(*autoscalingv1.HorizontalPodAutoscalerList)(nil), (*autoscalingv2.HorizontalPodAutoscalerList)(nil)},
		{(*eventsv1.Event)(nil), (*corev1.Event)(nil)},
		{(*eventsv1.EventList)(nil), (*corev1.EventList)(nil)},
	}
	for _, p := range pairs {
		if err := s.AddConversionFunc(p.a, p.b, rules.ConvertVersioned); err != nil {
			return err
		}
		if err := s.AddConversionFunc(p.b, p.a, rules.ConvertVersioned); err != nil {
			return err
		}
	}
	return nil
}

// NewVersionedScheme returns a scheme with the served versions only, no
// internal version. OpenAPI's definition namer needs it: with the internal
// registrations, the same Go type would also be named "__internal" in
// x-kubernetes-group-version-kind.
func NewVersionedScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, v := range servedVersions {
		if err := v.addToScheme(s); err != nil {
			return nil, fmt.Errorf("install %s: %w", v.gv, err)
		}
	}
	return s, nil
}
