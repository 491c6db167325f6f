package service

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestPrepareKeepsStatusOutOfMainResource(t *testing.T) {
	ctx := context.Background()
	svc := newService("a", corev1.ServiceTypeLoadBalancer)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	strategy.PrepareForCreate(ctx, svc)
	if len(svc.Status.LoadBalancer.Ingress) != 0 {
		t.Error("create kept a status")
	}

	old := newService("a", corev1.ServiceTypeLoadBalancer)
	old.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	upd := old.DeepCopy()
	upd.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "5.6.7.8"}}
	strategy.PrepareForUpdate(ctx, upd, old)
	if upd.Status.LoadBalancer.Ingress[0].IP != "1.2.3.4" {
		t.Error("an update of the main resource changed the status")
	}

	status := old.DeepCopy()
	status.Spec.Type = corev1.ServiceTypeClusterIP
	status.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "5.6.7.8"}}
	statusStrategy.PrepareForUpdate(ctx, status, old)
	if status.Spec.Type != corev1.ServiceTypeLoadBalancer || status.Status.LoadBalancer.Ingress[0].IP != "5.6.7.8" {
		t.Error("a status update changed the spec or lost the status")
	}
}

func TestDropTypeDependentFields(t *testing.T) {
	lbLocal := func() *corev1.Service {
		svc := newService("a", corev1.ServiceTypeLoadBalancer)
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "10.96.0.10", []string{"10.96.0.10"}
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		svc.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
		svc.Spec.Ports[0].NodePort = 30001
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		svc.Spec.HealthCheckNodePort = 30002
		svc.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
		svc.Spec.LoadBalancerClass = ptr.To("example.com/lb")
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		return svc
	}
	tests := []struct {
		name  string
		edit  func(*corev1.Service)
		check func(t *testing.T, svc *corev1.Service)
	}{{
		name: "to ClusterIP drops what only LoadBalancer uses",
		edit: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP },
		check: func(t *testing.T, s *corev1.Service) {
			if s.Spec.Ports[0].NodePort != 0 || s.Spec.HealthCheckNodePort != 0 || s.Spec.AllocateLoadBalancerNodePorts != nil ||
				s.Spec.LoadBalancerClass != nil || s.Spec.ExternalTrafficPolicy != "" || len(s.Status.LoadBalancer.Ingress) != 0 {
				t.Errorf("kept LoadBalancer fields: %+v %+v", s.Spec, s.Status)
			}
			if s.Spec.ClusterIP != "10.96.0.10" {
				t.Error("dropped the ClusterIP")
			}
		},
	}, {
		name: "to ExternalName drops the IP fields",
		edit: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.ExternalName = "example.com"
		},
		check: func(t *testing.T, s *corev1.Service) {
			if s.Spec.ClusterIP != "" || s.Spec.ClusterIPs != nil || s.Spec.IPFamilies != nil || s.Spec.IPFamilyPolicy != nil {
				t.Errorf("kept IP fields: %+v", s.Spec)
			}
		},
	}, {
		name: "a NodePort the user added is not dropped",
		edit: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP; s.Spec.Ports[0].NodePort = 30005 },
		check: func(t *testing.T, s *corev1.Service) {
			if s.Spec.Ports[0].NodePort != 30005 {
				t.Error("dropped a NodePort the user set (validation must reject it)")
			}
		},
	}, {
		name: "to NodePort keeps NodePorts and externalTrafficPolicy",
		edit: func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort },
		check: func(t *testing.T, s *corev1.Service) {
			if s.Spec.Ports[0].NodePort != 30001 || s.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || s.Spec.HealthCheckNodePort != 0 {
				t.Errorf("NodePort spec: %+v", s.Spec)
			}
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := lbLocal()
			svc := old.DeepCopy()
			tc.edit(svc)
			dropTypeDependentFields(svc, old)
			tc.check(t, svc)
		})
	}
}

func TestNormalizeClusterIPs(t *testing.T) {
	withIPs := func(single string, plural ...string) *corev1.Service {
		svc := newService("a", corev1.ServiceTypeClusterIP)
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = single, plural
		return svc
	}
	tests := []struct {
		name     string
		svc, old *corev1.Service
		want     []string
	}{
		{"create with the singular only", withIPs("10.96.0.1"), nil, []string{"10.96.0.1"}},
		{"create with neither", withIPs(""), nil, nil},
		{"old client update without plural", withIPs("10.96.0.1"), withIPs("10.96.0.1", "10.96.0.1"), []string{"10.96.0.1"}},
		{"clearing the singular clears an untouched plural", withIPs("", "10.96.0.1"), withIPs("10.96.0.1", "10.96.0.1"), nil},
		{"changing the singular follows into an untouched plural", withIPs("10.96.0.2", "10.96.0.1"), withIPs("10.96.0.1", "10.96.0.1"), []string{"10.96.0.2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			normalizeClusterIPs(tc.svc, tc.old)
			if !reflect.DeepEqual(tc.svc.Spec.ClusterIPs, tc.want) {
				t.Errorf("clusterIPs = %v, want %v", tc.svc.Spec.ClusterIPs, tc.want)
			}
		})
	}
}

func TestPatchAllocatedValues(t *testing.T) {
	old := newService("a", corev1.ServiceTypeLoadBalancer)
	old.Spec.ClusterIP, old.Spec.ClusterIPs = "10.96.0.1", []string{"10.96.0.1"}
	old.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30001}, {Name: "https", Port: 443, NodePort: 30002}}
	old.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	old.Spec.HealthCheckNodePort = 30003

	// The manifest as first applied: nothing allocated in it, and the
	// https port now asks for http's old NodePort.
	svc := newService("a", corev1.ServiceTypeLoadBalancer)
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443, NodePort: 30001}}
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	patchAllocatedValues(svc, old)
	if svc.Spec.ClusterIP != "10.96.0.1" || !reflect.DeepEqual(svc.Spec.ClusterIPs, []string{"10.96.0.1"}) {
		t.Errorf("ClusterIPs not carried over: %q %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
	}
	if svc.Spec.Ports[0].NodePort != 0 {
		t.Errorf("http got NodePort %d, which https now claims", svc.Spec.Ports[0].NodePort)
	}
	if svc.Spec.HealthCheckNodePort != 30003 {
		t.Errorf("healthCheckNodePort = %d, want 30003", svc.Spec.HealthCheckNodePort)
	}
}

func TestDefaultOnRead(t *testing.T) {
	old := newService("a", corev1.ServiceTypeClusterIP)
	old.Spec.ClusterIP = "10.96.0.1"
	defaultOnRead(old, corev1.IPv4Protocol)
	if !reflect.DeepEqual(old.Spec.ClusterIPs, []string{"10.96.0.1"}) || !reflect.DeepEqual(old.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) ||
		*old.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		t.Errorf("pre-dual-stack Service read as %+v", old.Spec)
	}

	headless := newService("h", corev1.ServiceTypeClusterIP)
	headless.Spec.ClusterIP, headless.Spec.Selector = corev1.ClusterIPNone, nil
	defaultOnRead(headless, corev1.IPv4Protocol)
	if *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || len(headless.Spec.IPFamilies) != 2 {
		t.Errorf("selectorless headless Service read as %+v", headless.Spec)
	}

	ext := newService("x", corev1.ServiceTypeExternalName)
	ext.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyCluster)
	defaultOnRead(ext, corev1.IPv4Protocol)
	if ext.Spec.InternalTrafficPolicy != nil || ext.Spec.IPFamilies != nil {
		t.Errorf("ExternalName Service read as %+v", ext.Spec)
	}
}

func TestGetAttrs(t *testing.T) {
	svc := newService("a", corev1.ServiceTypeNodePort)
	svc.Spec.ClusterIP = "10.96.0.1"
	_, fields, err := getAttrs(svc)
	if err != nil {
		t.Fatal(err)
	}
	if fields["spec.clusterIP"] != "10.96.0.1" || fields["spec.type"] != "NodePort" || fields["metadata.namespace"] != "default" {
		t.Errorf("fields = %v", fields)
	}
}
