package limitranger

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func newPlugin(t *testing.T, ranges ...*corev1.LimitRange) *Plugin {
	t.Helper()
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	for _, lr := range ranges {
		if err := f.Core().V1().LimitRanges().Informer().GetIndexer().Add(lr); err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

func podAttrs(pod *corev1.Pod, op admission.Operation, sub string) admission.Attributes {
	return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), sub, op, nil, false, nil)
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

var containerLimits = &corev1.LimitRange{
	ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lr"},
	Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{
		Type:                 corev1.LimitTypeContainer,
		DefaultRequest:       corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
		Default:              corev1.ResourceList{corev1.ResourceCPU: q("200m")},
		Max:                  corev1.ResourceList{corev1.ResourceCPU: q("1")},
		Min:                  corev1.ResourceList{corev1.ResourceMemory: q("32Mi")},
		MaxLimitRequestRatio: corev1.ResourceList{corev1.ResourceCPU: q("4")},
	}}},
}

func TestDefaultsAndAnnotation(t *testing.T) {
	p := newPlugin(t, containerLimits)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if err := p.Admit(context.Background(), podAttrs(pod, admission.Create, ""), nil); err != nil {
		t.Fatal(err)
	}
	res := pod.Spec.Containers[0].Resources
	if cpu := res.Requests[corev1.ResourceCPU]; cpu.String() != "100m" {
		t.Errorf("cpu request = %s", cpu.String())
	}
	if cpu := res.Limits[corev1.ResourceCPU]; cpu.String() != "200m" {
		t.Errorf("cpu limit = %s", cpu.String())
	}
	want := "LimitRanger plugin set: cpu, memory request for container app; cpu limit for container app"
	if got := pod.Annotations["kubernetes.io/limit-ranger"]; got != want {
		t.Errorf("annotation = %q\nwant %q", got, want)
	}
	if err := p.Validate(context.Background(), podAttrs(pod, admission.Create, ""), nil); err != nil {
		t.Errorf("defaulted pod refused: %v", err)
	}
}

func TestConstraints(t *testing.T) {
	p := newPlugin(t, containerLimits)
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		want      string
	}{
		{"over max", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("1"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("2")}},
			"maximum cpu usage per Container is 1, but limit is 2"},
		{"under min", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("100m")}},
			"minimum memory usage per Container is 32Mi, but request is 16Mi"},
		{"ratio", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("100m"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1")}},
			"cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000"},
		{"fits", corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: q("1")}},
			""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Resources: tc.resources}}}}
			err := p.Validate(context.Background(), podAttrs(pod, admission.Create, ""), nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), `pods "p" is forbidden: `) {
				t.Errorf("err = %q, want upstream's Forbidden", err)
			}
		})
	}
}

func TestPodLevelLimitsCountSidecars(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lr"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypePod, Max: corev1.ResourceList{corev1.ResourceCPU: q("1")}}}}}
	always := corev1.ContainerRestartPolicyAlways
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "sidecar", RestartPolicy: &always, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("600m")}}}},
		Containers:     []corev1.Container{{Name: "app", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: q("600m")}}}},
	}}
	err := newPlugin(t, lr).Validate(context.Background(), podAttrs(pod, admission.Create, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "maximum cpu usage per Pod is 1, but limit is 1200m") {
		t.Errorf("err = %v", err)
	}
}

func TestIgnoresPodUpdatesAndOtherKinds(t *testing.T) {
	p := newPlugin(t, containerLimits)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if err := p.Admit(context.Background(), podAttrs(pod, admission.Update, ""), nil); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Containers[0].Resources.Requests) != 0 {
		t.Error("pod update got defaults")
	}
	if err := p.Admit(context.Background(), podAttrs(pod, admission.Create, "status"), nil); err != nil || len(pod.Spec.Containers[0].Resources.Requests) != 0 {
		t.Errorf("status subresource got defaults (err %v)", err)
	}
}

func TestPersistentVolumeClaimLimits(t *testing.T) {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "lr"},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypePersistentVolumeClaim,
			Max: corev1.ResourceList{corev1.ResourceStorage: q("10Gi")}}}}}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Spec: corev1.PersistentVolumeClaimSpec{
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("20Gi")}}}}
	a := admission.NewAttributesRecord(pvc, nil, corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim"), "ns", "c",
		corev1.SchemeGroupVersion.WithResource("persistentvolumeclaims"), "", admission.Create, nil, false, nil)
	err := newPlugin(t, lr).Validate(context.Background(), a, nil)
	if err == nil || !strings.Contains(err.Error(), "maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi") {
		t.Errorf("err = %v", err)
	}
}

func TestLiveLookupWhenCacheIsEmpty(t *testing.T) {
	client := fake.NewClientset(containerLimits)
	f := informers.NewSharedInformerFactory(client, 0)
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}}
	if err := p.Admit(context.Background(), podAttrs(pod, admission.Create, ""), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := pod.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Error("a LimitRange only the API knows about was not applied")
	}
}
