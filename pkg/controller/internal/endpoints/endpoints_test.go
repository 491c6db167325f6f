package endpoints

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestPodChangeFor(t *testing.T) {
	base := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", ResourceVersion: "1", Labels: map[string]string{"a": "1"}}}
	with := func(f func(*corev1.Pod)) *corev1.Pod {
		p := base.DeepCopy()
		p.ResourceVersion = "2"
		f(p)
		return p
	}
	for name, tc := range map[string]struct {
		cur        *corev1.Pod
		want       bool
		oldLabels  bool
		alsoChange bool
	}{
		"annotation only": {cur: with(func(p *corev1.Pod) { p.Annotations = map[string]string{"x": "y"} })},
		"became ready": {cur: with(func(p *corev1.Pod) {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}), want: true},
		"got an IP":        {cur: with(func(p *corev1.Pod) { p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}} }), want: true},
		"deleting":         {cur: with(func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }), want: true},
		"relabelled":       {cur: with(func(p *corev1.Pod) { p.Labels = map[string]string{"a": "2"} }), want: true, oldLabels: true},
		"hostname changed": {cur: with(func(p *corev1.Pod) { p.Spec.Hostname = "h" }), want: true, oldLabels: true},
		"relabelled and ready": {cur: with(func(p *corev1.Pod) {
			p.Labels = nil
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		}), want: true, oldLabels: true, alsoChange: true},
	} {
		t.Run(name, func(t *testing.T) {
			got := PodChangeFor(base, tc.cur)
			if (got != nil) != tc.want {
				t.Fatalf("change = %+v, want one: %v", got, tc.want)
			}
			if got == nil {
				return
			}
			if (got.OldLabels != nil) != tc.oldLabels || got.Changed != tc.alsoChange {
				t.Errorf("change = %+v", got)
			}
		})
	}
	if PodChangeFor(base, base) != nil {
		t.Errorf("a resync is no change")
	}
}

func TestFindPort(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{
			{Name: "init", Ports: []corev1.ContainerPort{{Name: "init", ContainerPort: 1, Protocol: corev1.ProtocolTCP}}},
			{Name: "sidecar", RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "side", ContainerPort: 2, Protocol: corev1.ProtocolTCP}}},
		},
		Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP}}}},
	}}
	for _, tc := range []struct {
		target   intstr.IntOrString
		protocol corev1.Protocol
		want     int
	}{
		{intstr.FromInt32(80), corev1.ProtocolTCP, 80},
		{intstr.FromString("dns"), corev1.ProtocolUDP, 53},
		{intstr.FromString("dns"), corev1.ProtocolTCP, 0},
		{intstr.FromString("side"), corev1.ProtocolTCP, 2},
		{intstr.FromString("init"), corev1.ProtocolTCP, 0},
	} {
		got, err := FindPort(pod, &corev1.ServicePort{TargetPort: tc.target, Protocol: tc.protocol})
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("%v/%s: %d, %v; want %d", tc.target.String(), tc.protocol, got, err, tc.want)
		}
	}
}

func TestSliceTracker(t *testing.T) {
	tr := NewSliceTracker()
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s", UID: "u1", Generation: 2,
		Labels: map[string]string{discoveryv1.LabelServiceName: "web"}}}
	if !tr.ShouldSync(s) || tr.Has(s) {
		t.Fatal("unknown slice must be synced")
	}
	tr.Update(s)
	if tr.ShouldSync(s) {
		t.Error("own write must not be synced")
	}
	older := s.DeepCopy()
	older.Generation = 1
	if !tr.Stale("ns", "web", []*discoveryv1.EndpointSlice{older}) {
		t.Error("an older generation in the cache is stale")
	}
	if !tr.Stale("ns", "web", nil) {
		t.Error("a written slice missing from the cache is stale")
	}
	if tr.Stale("ns", "web", []*discoveryv1.EndpointSlice{s}) {
		t.Error("up to date cache reported stale")
	}
	tr.ExpectDeletion(s)
	if !tr.Stale("ns", "web", []*discoveryv1.EndpointSlice{s}) {
		t.Error("a slice expected deleted but listed is stale")
	}
	if !tr.HandleDeletion(s) {
		t.Error("own deletion reported as foreign")
	}
	tr.Update(s)
	if tr.HandleDeletion(s) {
		t.Error("foreign deletion reported as own")
	}
}

func TestEndpointSetIdentity(t *testing.T) {
	set := EndpointSet{}
	a := &discoveryv1.Endpoint{Addresses: []string{"10.0.0.2", "10.0.0.1"}, TargetRef: &corev1.ObjectReference{Namespace: "ns", Name: "p"},
		Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}
	set.Insert(a)
	b := a.DeepCopy()
	b.Addresses = []string{"10.0.0.1", "10.0.0.2"}
	b.Conditions.Ready = ptr.To(false)
	if set.Get(b) != a {
		t.Fatal("same identity (addresses in any order, target) not found")
	}
	if EqualBeyondIdentity(a, b) {
		t.Error("readiness difference not seen")
	}
	if a.Addresses[0] != "10.0.0.2" {
		t.Error("Insert reordered the endpoint's addresses")
	}
}
