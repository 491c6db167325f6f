package serviceaccount

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func newPlugin(t *testing.T, sas ...*corev1.ServiceAccount) *Plugin {
	t.Helper()
	client := fake.NewClientset()
	f := informers.NewSharedInformerFactory(client, 0)
	for _, sa := range sas {
		if err := f.Core().V1().ServiceAccounts().Informer().GetIndexer().Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(f)
	p.generateName = func(prefix string) string { return prefix + "abcde" }
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

func attrs(pod *corev1.Pod) admission.Attributes {
	return admission.NewAttributesRecord(pod, nil, corev1.SchemeGroupVersion.WithKind("Pod"), "ns", pod.Name,
		corev1.SchemeGroupVersion.WithResource("pods"), "", admission.Create, nil, false, nil)
}

func sa(name string, mutate func(*corev1.ServiceAccount)) *corev1.ServiceAccount {
	s := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestDefaultsServiceAccountAndToken(t *testing.T) {
	p := newPlugin(t, sa("default", func(s *corev1.ServiceAccount) {
		s.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "registry"}}
	}))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}},
	}}
	if err := p.Admit(context.Background(), attrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" {
		t.Errorf("serviceAccountName = %q", pod.Spec.ServiceAccountName)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].Name != "kube-api-access-abcde" {
		t.Fatalf("volumes = %v", pod.Spec.Volumes)
	}
	sources := pod.Spec.Volumes[0].Projected.Sources
	if len(sources) != 3 || *sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
		sources[1].ConfigMap.Name != "kube-root-ca.crt" || sources[2].DownwardAPI.Items[0].FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("projection = %+v", sources)
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
		if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != TokenMountPath || !c.VolumeMounts[0].ReadOnly {
			t.Errorf("container %s mounts = %v", c.Name, c.VolumeMounts)
		}
	}
	if len(pod.Spec.ImagePullSecrets) != 1 || pod.Spec.ImagePullSecrets[0].Name != "registry" {
		t.Errorf("imagePullSecrets = %v", pod.Spec.ImagePullSecrets)
	}
}

func TestAutomountOff(t *testing.T) {
	p := newPlugin(t, sa("quiet", func(s *corev1.ServiceAccount) { s.AutomountServiceAccountToken = ptr.To(false) }), sa("default", nil))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{ServiceAccountName: "quiet", Containers: []corev1.Container{{Name: "app"}}}}
	if err := p.Admit(context.Background(), attrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 0 {
		t.Errorf("token mounted although the service account turned automount off: %v", pod.Spec.Volumes)
	}
	// The pod's own setting wins.
	pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false), Containers: []corev1.Container{{Name: "app"}}}}
	if err := p.Admit(context.Background(), attrs(pod), nil); err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 0 {
		t.Errorf("token mounted although the pod turned automount off")
	}
}

func TestMissingServiceAccount(t *testing.T) {
	p := newPlugin(t)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{ServiceAccountName: "ghost", Containers: []corev1.Container{{Name: "app"}}}}
	err := p.Admit(context.Background(), attrs(pod), nil)
	if err == nil || !strings.Contains(err.Error(), `error looking up service account ns/ghost: serviceaccount "ghost" not found`) {
		t.Errorf("err = %v", err)
	}
}

func TestEnforceMountableSecrets(t *testing.T) {
	p := newPlugin(t, sa("strict", func(s *corev1.ServiceAccount) {
		s.Annotations = map[string]string{EnforceMountableSecretsAnnotation: "true"}
		s.Secrets = []corev1.ObjectReference{{Name: "allowed"}}
	}))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{
		ServiceAccountName: "strict",
		Containers:         []corev1.Container{{Name: "app"}},
		Volumes:            []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "other"}}}},
	}}
	err := p.Admit(context.Background(), attrs(pod), nil)
	if err == nil || !strings.Contains(err.Error(), `volume with secret.secretName="other" is not allowed because service account strict does not reference that secret`) {
		t.Errorf("err = %v", err)
	}
}

func TestMirrorPods(t *testing.T) {
	p := newPlugin(t, sa("default", nil))
	mirror := func(spec corev1.PodSpec) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "m", Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}}, Spec: spec}
	}
	ok := mirror(corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}})
	if err := p.Admit(context.Background(), attrs(ok), nil); err != nil || ok.Spec.ServiceAccountName != "" || len(ok.Spec.Volumes) != 0 {
		t.Errorf("plain mirror pod: err=%v spec=%+v", err, ok.Spec)
	}
	bad := mirror(corev1.PodSpec{Containers: []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}}}})
	if err := p.Admit(context.Background(), attrs(bad), nil); err == nil || !strings.Contains(err.Error(), "a mirror pod may not reference secrets") {
		t.Errorf("mirror pod with secret: err = %v", err)
	}
}
