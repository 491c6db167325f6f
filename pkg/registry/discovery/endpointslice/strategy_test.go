package endpointslice

import (
	"context"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"
)

func v1Context() context.Context {
	return genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		APIGroup: "discovery.k8s.io", APIVersion: "v1", Resource: "endpointslices",
	})
}

func newSlice() *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "s", Namespace: "default", Labels: map[string]string{"kubernetes.io/service-name": "svc"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}},
	}
}

func TestGeneration(t *testing.T) {
	tests := []struct {
		name   string
		change func(*discoveryv1.EndpointSlice)
		want   int64
	}{
		{"nothing", func(*discoveryv1.EndpointSlice) {}, 4},
		{"annotation", func(s *discoveryv1.EndpointSlice) { s.Annotations = map[string]string{"a": "b"} }, 4},
		{"label", func(s *discoveryv1.EndpointSlice) { s.Labels["x"] = "y" }, 5},
		{"endpoints", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "10.0.0.2" }, 5},
		{"ports", func(s *discoveryv1.EndpointSlice) {
			s.Ports = []discoveryv1.EndpointPort{{Port: ptr.To[int32](80)}}
		}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := newSlice()
			old.Generation = 4
			s := old.DeepCopy()
			tc.change(s)
			strategy.PrepareForUpdate(v1Context(), s, old)
			if s.Generation != tc.want {
				t.Errorf("generation %d, want %d", s.Generation, tc.want)
			}
			if old.Name != "s" || old.Generation != 4 {
				t.Errorf("old object's metadata was changed: %+v", old.ObjectMeta)
			}
		})
	}
}

func TestDeprecatedTopologyDroppedOnV1(t *testing.T) {
	s := newSlice()
	s.Endpoints[0].DeprecatedTopology = map[string]string{"kubernetes.io/hostname": "node-1"}
	strategy.PrepareForCreate(v1Context(), s)
	if s.Generation != 1 {
		t.Errorf("generation %d, want 1", s.Generation)
	}
	if s.Endpoints[0].DeprecatedTopology != nil {
		t.Errorf("deprecatedTopology kept on create: %v", s.Endpoints[0].DeprecatedTopology)
	}
	// A hostname only moves into nodeName when the stored slice had it.
	if s.Endpoints[0].NodeName != nil {
		t.Errorf("nodeName set from a topology the stored slice did not have: %q", *s.Endpoints[0].NodeName)
	}

	old := newSlice()
	old.Endpoints[0].DeprecatedTopology = map[string]string{"kubernetes.io/hostname": "node-1"}
	updated := old.DeepCopy()
	updated.Endpoints[0].Addresses[0] = "10.0.0.9"
	strategy.PrepareForUpdate(v1Context(), updated, old)
	if updated.Endpoints[0].DeprecatedTopology != nil {
		t.Errorf("deprecatedTopology kept on update: %v", updated.Endpoints[0].DeprecatedTopology)
	}
	if updated.Endpoints[0].NodeName == nil || *updated.Endpoints[0].NodeName != "node-1" {
		t.Errorf("nodeName %v, want node-1 carried over from the stored topology", updated.Endpoints[0].NodeName)
	}
}

func TestWarnings(t *testing.T) {
	s := newSlice()
	s.AddressType = discoveryv1.AddressTypeFQDN
	s.Endpoints[0].Addresses = []string{"foo.example.com"}
	if w := strategy.WarningsOnCreate(v1Context(), s); len(w) != 1 || w[0] != "spec.addressType: FQDN endpoints are deprecated" {
		t.Errorf("got %v, want the FQDN deprecation warning", w)
	}

	s = newSlice()
	s.Endpoints[0].Addresses = []string{"::ffff:10.0.0.1"}
	s.AddressType = discoveryv1.AddressTypeIPv6
	if w := strategy.WarningsOnUpdate(v1Context(), s, s); len(w) == 0 {
		t.Error("no warning for an IPv4-mapped IPv6 address")
	}
	s.Labels[discoveryv1.LabelManagedBy] = "endpointslice-controller.k8s.io"
	if w := strategy.WarningsOnUpdate(v1Context(), s, s); len(w) != 0 {
		t.Errorf("warned about a controller-managed slice: %v", w)
	}
}
