package service

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/utils/ptr"
)

// fakeSlices returns fixed EndpointSlices per service.
type fakeSlices map[string][]*discoveryv1.EndpointSlice

func (f fakeSlices) GetEndpointSlices(namespace, name string) ([]*discoveryv1.EndpointSlice, error) {
	return f[namespace+"/"+name], nil
}

func TestResourceLocation(t *testing.T) {
	slice := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.244.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(false)}, TargetRef: &corev1.ObjectReference{Namespace: "default", Name: "notready"}},
			{Addresses: []string{"10.244.0.6"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}, TargetRef: &corev1.ObjectReference{Namespace: "default", Name: "web"}},
		},
	}
	stranger := &discoveryv1.EndpointSlice{
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}}}, // not a pod
	}
	r := &REST{
		primary: corev1.IPv4Protocol,
		slices:  fakeSlices{"default/web": {slice}, "default/stranger": {stranger}},
		pods: func(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
			if name != "web" {
				return nil, apierrors.NewNotFound(corev1.Resource("pods"), name)
			}
			return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
				Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.244.0.6"}}}}, nil
		},
	}
	ctx := genericapirequest.WithNamespace(context.Background(), "default")

	for i := 0; i < 5; i++ { // the pick is random; only the ready pod qualifies
		u, _, err := r.ResourceLocation(ctx, "https:web:http")
		if err != nil {
			t.Fatal(err)
		}
		if u.String() != "https://10.244.0.6:8080" {
			t.Fatalf("location = %s, want the ready pod's https://10.244.0.6:8080", u)
		}
	}
	for id, check := range map[string]func(error) bool{
		"stranger:http": apierrors.IsServiceUnavailable, // endpoint that is no pod
		"nothing":       apierrors.IsServiceUnavailable, // no slices
		"a:b:c:d":       apierrors.IsBadRequest,
	} {
		if _, _, err := r.ResourceLocation(ctx, id); !check(err) {
			t.Errorf("%s: unexpected %v", id, err)
		}
	}
	if _, _, err := r.ResourceLocation(context.Background(), "web:http"); !apierrors.IsBadRequest(err) {
		t.Errorf("no namespace: %v", err)
	}
}
