package podsecurity

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func newTestPlugin(t *testing.T, config string, objects ...runtime.Object) *Plugin {
	t.Helper()
	var p *Plugin
	var err error
	if config != "" {
		p, err = New(strings.NewReader(config))
	} else {
		p, err = New(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(objects...)
	factory := informers.NewSharedInformerFactory(client, 0)
	p.SetExternalKubeClientSet(client)
	p.SetExternalKubeInformerFactory(factory)
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	return p
}

func privilegedPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "busybox",
			SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
		}}},
	}
}

func restrictedPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{
				Name: "c", Image: "busybox",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
		},
	}
}

func validate(t *testing.T, p *Plugin, obj runtime.Object, ns, resource, kind string) (error, warnings) {
	t.Helper()
	gvk := corev1.SchemeGroupVersion.WithKind(kind)
	gvr := corev1.SchemeGroupVersion.WithResource(resource)
	if kind == "Deployment" {
		gvk, gvr = appsv1.SchemeGroupVersion.WithKind(kind), appsv1.SchemeGroupVersion.WithResource(resource)
	}
	attrs := admission.NewAttributesRecord(obj, nil, gvk, ns, "p", gvr, "", admission.Create, &metav1.CreateOptions{}, false,
		&user.DefaultInfo{Name: "alice"})
	var w warnings
	ctx := warning.WithWarningRecorder(context.Background(), &w)
	return p.Validate(ctx, attrs, nil), w
}

func TestEnforce(t *testing.T) {
	p := newTestPlugin(t, "",
		namespace("open", nil),
		namespace("strict", map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}),
		namespace("base", map[string]string{"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "restricted"}),
	)
	if err, _ := validate(t, p, privilegedPod("open"), "open", "pods", "Pod"); err != nil {
		t.Errorf("privileged pod in an unlabelled namespace: %v", err)
	}
	err, _ := validate(t, p, privilegedPod("strict"), "strict", "pods", "Pod")
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true)`) {
		t.Errorf("privileged pod in a restricted namespace: err = %v", err)
	}
	if err, _ := validate(t, p, restrictedPod("strict"), "strict", "pods", "Pod"); err != nil {
		t.Errorf("restricted-compliant pod in a restricted namespace: %v", err)
	}
	// Baseline allows a default pod but warns at restricted.
	pod := restrictedPod("base")
	pod.Spec.SecurityContext = nil
	err, w := validate(t, p, pod, "base", "pods", "Pod")
	if err != nil || len(w) != 1 || !strings.Contains(w[0], `would violate PodSecurity "restricted:latest"`) {
		t.Errorf("default pod in baseline/warn=restricted: err %v, warnings %q", err, w)
	}
	// Workloads are warned about, never refused.
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "strict", Name: "p"},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: privilegedPod("strict").Spec}}}
	err, w = validate(t, p, dep, "strict", "deployments", "Deployment")
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "privileged") {
		t.Errorf("privileged deployment in a restricted namespace: err %v, warnings %q", err, w)
	}
}

func TestBadLevelRefused(t *testing.T) {
	p := newTestPlugin(t, "")
	ns := namespace("typo", map[string]string{"pod-security.kubernetes.io/enforce": "restricteD"})
	err, _ := validate(t, p, ns, "", "namespaces", "Namespace")
	if !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err) {
		t.Errorf("namespace with an unknown level: err = %v, want refused", err)
	}
}

func TestClusterDefaultsFromConfig(t *testing.T) {
	p := newTestPlugin(t, `apiVersion: pod-security.admission.config.k8s.io/v1
kind: PodSecurityConfiguration
defaults:
  enforce: baseline
exemptions:
  namespaces: [kube-system]
`, namespace("plain", nil), namespace("kube-system", nil))
	if err, _ := validate(t, p, privilegedPod("plain"), "plain", "pods", "Pod"); !apierrors.IsForbidden(err) {
		t.Errorf("privileged pod under a baseline default: err = %v, want Forbidden", err)
	}
	if err, _ := validate(t, p, privilegedPod("kube-system"), "kube-system", "pods", "Pod"); err != nil {
		t.Errorf("privileged pod in an exempt namespace: %v", err)
	}
}

func TestBadConfigRefused(t *testing.T) {
	for name, config := range map[string]string{
		"unknown level": "kind: PodSecurityConfiguration\napiVersion: pod-security.admission.config.k8s.io/v1\ndefaults: {enforce: strict}\n",
		"not YAML":      "kind: [",
		"wrong kind":    "kind: Pod\napiVersion: v1\n",
	} {
		p, err := New(strings.NewReader(config))
		if err == nil {
			client := fake.NewClientset()
			p.SetExternalKubeClientSet(client)
			p.SetExternalKubeInformerFactory(informers.NewSharedInformerFactory(client, 0))
			err = p.ValidateInitialization()
		}
		if err == nil {
			t.Errorf("%s: configuration accepted", name)
		}
	}
}
