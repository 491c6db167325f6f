package quota

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/resourcequota"
	quotav1 "k8s.io/apiserver/pkg/quota/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	testingclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func TestPodUsage(t *testing.T) {
	clock := testingclock.NewFakeClock(time.Now())
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("2")}}}},
		Containers: []corev1.Container{
			{Name: "a", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m"), corev1.ResourceMemory: q("1Gi")},
				Limits: corev1.ResourceList{corev1.ResourceMemory: q("2Gi")}}},
			{Name: "b", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m")}}},
		},
	}}
	usage, err := PodUsage(pod, clock)
	if err != nil {
		t.Fatal(err)
	}
	want := map[corev1.ResourceName]string{
		"count/pods": "1", corev1.ResourcePods: "1",
		corev1.ResourceCPU: "2", corev1.ResourceRequestsCPU: "2", // the init container's 2 CPUs dominate
		corev1.ResourceMemory: "1Gi", corev1.ResourceRequestsMemory: "1Gi", corev1.ResourceLimitsMemory: "2Gi",
	}
	for name, v := range want {
		if got := usage[name]; got.Cmp(q(v)) != 0 {
			t.Errorf("%s = %s, want %s", name, got.String(), v)
		}
	}
	if _, ok := usage[corev1.ResourceLimitsCPU]; ok {
		t.Errorf("limits.cpu charged although no container sets it")
	}

	pod.Status.Phase = corev1.PodSucceeded
	usage, _ = PodUsage(pod, clock)
	if len(usage) != 1 {
		t.Errorf("finished pod charges %v, want only its count", usage)
	}
	pod.Status.Phase = corev1.PodRunning
	pod.DeletionTimestamp = &metav1.Time{Time: clock.Now().Add(-time.Minute)}
	pod.DeletionGracePeriodSeconds = ptr.To[int64](30)
	usage, _ = PodUsage(pod, clock)
	if len(usage) != 1 {
		t.Errorf("pod past its grace period charges %v, want only its count", usage)
	}
}

func TestServiceAndClaimUsage(t *testing.T) {
	svc := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}, {Port: 443}}}}
	usage, err := NewServiceEvaluator(nil).Usage(svc)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[corev1.ResourceName]string{corev1.ResourceServices: "1", corev1.ResourceServicesLoadBalancers: "1", corev1.ResourceServicesNodePorts: "2", "count/services": "1"} {
		if got := usage[name]; got.Cmp(q(v)) != 0 {
			t.Errorf("service %s = %s, want %s", name, got.String(), v)
		}
	}

	pvc := &corev1.PersistentVolumeClaim{Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: ptr.To("fast"),
		Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: q("1500m")}}}}
	usage, err = NewPersistentVolumeClaimEvaluator(nil).Usage(pvc)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[corev1.ResourceName]string{
		corev1.ResourcePersistentVolumeClaims: "1", corev1.ResourceRequestsStorage: "2",
		"fast.storageclass.storage.k8s.io/requests.storage": "2", "fast.storageclass.storage.k8s.io/persistentvolumeclaims": "1",
	} {
		if got := usage[name]; got.Cmp(q(v)) != 0 {
			t.Errorf("claim %s = %s, want %s (storage rounds up to whole bytes)", name, got.String(), v)
		}
	}
}

// TestAdmissionExceedsQuota runs the library's ResourceQuota plugin with
// skiff's configuration, as the API server does.
func TestAdmissionExceedsQuota(t *testing.T) {
	rq := &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "compute"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: q("1"), corev1.ResourcePods: q("5"), corev1.ResourceConfigMaps: q("1")}},
		Status: corev1.ResourceQuotaStatus{
			Hard: corev1.ResourceList{corev1.ResourceRequestsCPU: q("1"), corev1.ResourcePods: q("5"), corev1.ResourceConfigMaps: q("1")},
			Used: corev1.ResourceList{corev1.ResourceRequestsCPU: q("800m"), corev1.ResourcePods: q("1"), corev1.ResourceConfigMaps: q("1")},
		},
	}
	client := fake.NewClientset(rq)
	f := informers.NewSharedInformerFactory(client, 0)
	if err := f.Core().V1().ResourceQuotas().Informer().GetIndexer().Add(rq); err != nil {
		t.Fatal(err)
	}
	plugin, err := resourcequota.NewResourceQuota(nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	plugin.SetDrainedNotification(stop)
	plugin.SetExternalKubeClientSet(client)
	plugin.SetExternalKubeInformerFactory(f)
	plugin.SetQuotaConfiguration(NewConfigurationForAdmission())
	if err := plugin.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "big"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("500m")}}}}}}
	a := admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", "big",
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	err = plugin.Validate(context.Background(), a, nil)
	want := `pods "big" is forbidden: exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=800m, limited: requests.cpu=1`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant  %s", err, want)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "two"}}
	a = admission.NewAttributesRecord(cm, nil, corev1.SchemeGroupVersion.WithKind("ConfigMap"), "ns", "two",
		corev1.SchemeGroupVersion.WithResource("configmaps"), "", admission.Create, &metav1.CreateOptions{}, false, nil)
	if err := plugin.Validate(context.Background(), a, nil); err == nil || !strings.Contains(err.Error(), "exceeded quota: compute, requested: configmaps=1, used: configmaps=1, limited: configmaps=1") {
		t.Errorf("configmap count: err = %v", err)
	}
}

func TestConstraintsNeedRequests(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}, {Name: "b",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: q("1")}}}}}}
	err := NewPodEvaluator(nil, testingclock.NewFakeClock(time.Now())).Constraints([]corev1.ResourceName{corev1.ResourceRequestsCPU, corev1.ResourceLimitsMemory}, pod)
	want := "must specify limits.memory for: a,b; requests.cpu for: a"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	var _ quotav1.Evaluator = NewPodEvaluator(nil, nil)
}
