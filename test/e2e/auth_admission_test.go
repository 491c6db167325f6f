//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/pkg/pki"
	"github.com/skiff-project/skiff/test/e2e/framework"
)

// webhookServer is an HTTPS admission webhook on loopback: /validate
// denies objects labelled deny=true, /mutate labels objects mutated=yes.
type webhookServer struct {
	url      string
	caBundle string
	calls    chan string
}

func startWebhookServer(t *testing.T) *webhookServer {
	t.Helper()
	dir := t.TempDir()
	ca, err := pki.LoadOrCreateCA(dir, "ca", "webhook-test-ca")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := ca.EnsureCert(dir, "serving", pki.CertSpec{CommonName: "webhook", IPs: []net.IP{net.ParseIP("127.0.0.1")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(ca.CertPath)
	if err != nil {
		t.Fatal(err)
	}
	ws := &webhookServer{caBundle: string(caPEM), calls: make(chan string, 100)}
	mux := http.NewServeMux()
	mux.HandleFunc("/validate", ws.handle(func(obj map[string]any, r *admissionv1.AdmissionResponse) {
		if labelsOf(obj)["deny"] == "true" {
			r.Allowed = false
			r.Result = &metav1.Status{Code: http.StatusForbidden, Message: "denied by the test webhook"}
		}
	}))
	mux.HandleFunc("/mutate", ws.handle(func(obj map[string]any, r *admissionv1.AdmissionResponse) {
		op := `[{"op":"add","path":"/metadata/labels/mutated","value":"yes"}]`
		if labelsOf(obj) == nil {
			op = `[{"op":"add","path":"/metadata/labels","value":{"mutated":"yes"}}]`
		}
		pt := admissionv1.PatchTypeJSONPatch
		r.Patch, r.PatchType = []byte(op), &pt
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go func() { _ = srv.ServeTLS(l, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	ws.url = "https://" + l.Addr().String()
	return ws
}

func labelsOf(obj map[string]any) map[string]string {
	meta, _ := obj["metadata"].(map[string]any)
	raw, _ := meta["labels"].(map[string]any)
	if raw == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range raw {
		out[k], _ = v.(string)
	}
	return out
}

func (ws *webhookServer) handle(decide func(obj map[string]any, r *admissionv1.AdmissionResponse)) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		var obj map[string]any
		_ = json.Unmarshal(review.Request.Object.Raw, &obj)
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		decide(obj, resp)
		select {
		case ws.calls <- req.URL.Path + " " + review.Request.Name:
		default:
		}
		review.Response, review.Request = resp, nil
		_ = json.NewEncoder(w).Encode(review)
	}
}

// TestAuthAdmission: real HTTPS webhooks deny and patch, a
// ValidatingAdmissionPolicy's CEL rule denies with its message, quota and
// limit ranges apply, all in upstream's words.
func TestAuthAdmission(t *testing.T) {
	s := framework.StartServer(t)
	ctx := context.Background()
	c := s.Client()
	ws := startWebhookServer(t)
	kubectlMust(t, s, `apiVersion: v1
kind: Namespace
metadata: {name: hooked, labels: {webhooks: "on"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
`, "apply", "-f", "-")

	webhooks := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: test-mutator}
webhooks:
- name: mutate.test.skiff.dev
  clientConfig: {url: "%[1]s/mutate", caBundle: %[2]s}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  namespaceSelector: {matchLabels: {webhooks: "on"}}
  objectSelector: {matchExpressions: [{key: skip, operator: DoesNotExist}]}
  sideEffects: None
  admissionReviewVersions: [v1]
  timeoutSeconds: 5
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: test-validator}
webhooks:
- name: validate.test.skiff.dev
  clientConfig: {url: "%[1]s/validate", caBundle: %[2]s}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [configmaps]}]
  namespaceSelector: {matchLabels: {webhooks: "on"}}
  matchConditions: [{name: not-exempt, expression: 'object.metadata.name != "exempt"'}]
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
- name: unreachable-ignored.test.skiff.dev
  clientConfig: {url: "https://127.0.0.1:1/nothing", caBundle: %[2]s}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}]
  namespaceSelector: {matchLabels: {webhooks: "on"}}
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Ignore
  timeoutSeconds: 2
- name: unreachable-fails.test.skiff.dev
  clientConfig: {url: "https://127.0.0.1:1/nothing", caBundle: %[2]s}
  rules: [{apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [secrets]}]
  namespaceSelector: {matchLabels: {webhooks: "on"}}
  sideEffects: None
  admissionReviewVersions: [v1]
  failurePolicy: Fail
  timeoutSeconds: 2
`, ws.url, jsonBase64(ws.caBundle))
	kubectlMust(t, s, webhooks, "apply", "-f", "-")

	cm := func(ns, name string, labels map[string]string) (*corev1.ConfigMap, error) {
		return c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
	}
	// Webhook configurations take effect once the server's informers see them.
	n := 0
	eventually(t, 30*time.Second, "mutating webhook in effect", func() (bool, error) {
		n++
		got, err := cm("hooked", fmt.Sprintf("probe-%d", n), nil)
		return err == nil && got.Labels["mutated"] == "yes", err
	})

	t.Run("validating webhook denies", func(t *testing.T) {
		_, err := cm("hooked", "bad", map[string]string{"deny": "true"})
		want := `admission webhook "validate.test.skiff.dev" denied the request: denied by the test webhook`
		if err == nil || !apierrors.IsForbidden(err) || err.Error() != want {
			t.Errorf("err = %v\nwant %s", err, want)
		}
		out, _ := s.Kubectl(ctx, "", "create", "configmap", "bad2", "-n", "hooked", "--dry-run=server", "-o", "name")
		_ = out // dry-run reaches webhooks with sideEffects None: nothing to check beyond not crashing
	})
	t.Run("mutating webhook patches; selectors and match conditions skip", func(t *testing.T) {
		got, err := cm("hooked", "good", map[string]string{"app": "x"})
		if err != nil || got.Labels["mutated"] != "yes" || got.Labels["app"] != "x" {
			t.Fatalf("labels = %v, err = %v", got.Labels, err)
		}
		if got, err := cm("hooked", "skipped", map[string]string{"skip": "1"}); err != nil || got.Labels["mutated"] != "" {
			t.Errorf("objectSelector: labels = %v, err = %v", got.Labels, err)
		}
		if got, err := cm("plain", "elsewhere", map[string]string{"deny": "true"}); err != nil || got.Labels["mutated"] != "" {
			t.Errorf("namespaceSelector: labels = %v, err = %v", got, err)
		}
		if _, err := cm("hooked", "exempt", map[string]string{"deny": "true"}); err != nil {
			t.Errorf("matchConditions: %v", err)
		}
	})
	t.Run("failure policies", func(t *testing.T) {
		// The Ignore webhook is unreachable: configmaps are still created
		// (above); the Fail webhook for secrets refuses them.
		_, err := c.CoreV1().Secrets("hooked").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), `failed calling webhook "unreachable-fails.test.skiff.dev"`) {
			t.Errorf("err = %v", err)
		}
		if _, err := c.CoreV1().Secrets("plain").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
			t.Errorf("secret outside the webhook's namespaces: %v", err)
		}
	})

	t.Run("ValidatingAdmissionPolicy", func(t *testing.T) {
		kubectlMust(t, s, `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: max-replicas}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [deployments]}]
  validations:
  - expression: "object.spec.replicas <= 5"
    message: "replicas must be no greater than 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: max-replicas-binding}
spec:
  policyName: max-replicas
  validationActions: [Deny]
  matchResources:
    namespaceSelector: {matchLabels: {webhooks: "on"}}
`, "apply", "-f", "-")
		deployment := func(name string, replicas int) string {
			return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: hooked}
spec:
  replicas: %d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec: {containers: [{name: c, image: busybox}]}
`, name, replicas)
		}
		want := `The deployments "big" is invalid: : ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: replicas must be no greater than 5`
		eventually(t, 30*time.Second, "policy in effect", func() (bool, error) {
			out, err := s.Kubectl(ctx, deployment("big", 10), "create", "-f", "-", "--dry-run=server")
			return err != nil && strings.Contains(out, "denied request: replicas must be no greater than 5"), fmt.Errorf("%s", out)
		})
		out, err := s.Kubectl(ctx, deployment("big", 10), "create", "-f", "-")
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("got %q\nwant %q", strings.TrimSpace(out), want)
		}
		kubectlMust(t, s, deployment("small", 3), "create", "-f", "-")

		// The status controller type-checks policies (this one has no binding).
		kubectlMust(t, s, `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: typo}
spec:
  matchConstraints:
    resourceRules: [{apiGroups: [apps], apiVersions: [v1], operations: [CREATE], resources: [deployments]}]
  validations:
  - expression: "object.spec.replicas <= 5"
  - expression: "object.spec.replicaz <= 5"
`, "apply", "-f", "-")
		eventually(t, 30*time.Second, "type-checking warning in the policy's status", func() (bool, error) {
			out, err := s.Kubectl(ctx, "", "get", "validatingadmissionpolicy", "typo", "-o",
				`jsonpath={.status.observedGeneration} {range .status.typeChecking.expressionWarnings[*]}{.fieldRef}: {.warning}{end}`)
			return err == nil && strings.HasPrefix(out, "1 spec.validations[1].expression: ") &&
				strings.Contains(out, "undefined field 'replicaz'") && !strings.Contains(out, "validations[0]"), fmt.Errorf("%s", out)
		})
	})

	t.Run("PodSecurity", func(t *testing.T) {
		kubectlMust(t, s, `apiVersion: v1
kind: Namespace
metadata:
  name: restricted
  labels: {pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: restricted}
`, "apply", "-f", "-")
		pod := `apiVersion: v1
kind: Pod
metadata: {name: root, namespace: restricted}
spec:
  containers: [{name: c, image: busybox, securityContext: {privileged: true}}]
`
		out, err := s.Kubectl(ctx, pod, "create", "-f", "-")
		want := `pods "root" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set securityContext.privileged=true)`
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("privileged pod in a restricted namespace: got %q\nwant it to contain %q", strings.TrimSpace(out), want)
		}
		// A workload is admitted with a warning (its pods are refused later).
		out = kubectlMust(t, s, `apiVersion: apps/v1
kind: Deployment
metadata: {name: root, namespace: restricted}
spec:
  selector: {matchLabels: {app: root}}
  template:
    metadata: {labels: {app: root}}
    spec: {containers: [{name: c, image: busybox, securityContext: {privileged: true}}]}
`, "create", "-f", "-")
		if !strings.Contains(out, `Warning: would violate PodSecurity "restricted:latest"`) {
			t.Errorf("privileged deployment: no PodSecurity warning in %q", out)
		}
		// Raising a namespace's level warns about its running pods.
		kubectlMust(t, s, "", "create", "namespace", "lax")
		kubectlMust(t, s, strings.ReplaceAll(pod, "restricted", "lax"), "create", "-f", "-")
		out = kubectlMust(t, s, "", "label", "namespace", "lax", "pod-security.kubernetes.io/enforce=baseline")
		if !strings.Contains(out, `existing pods in namespace "lax" violate the new PodSecurity enforce level "baseline:latest"`) {
			t.Errorf("labelling a namespace with running privileged pods: %q", out)
		}
	})

	t.Run("LimitRange defaults and ResourceQuota", func(t *testing.T) {
		kubectlMust(t, s, `apiVersion: v1
kind: Namespace
metadata: {name: limited}
---
apiVersion: v1
kind: LimitRange
metadata: {name: defaults, namespace: limited}
spec:
  limits:
  - type: Container
    defaultRequest: {cpu: 250m, memory: 64Mi}
    default: {cpu: 500m, memory: 128Mi}
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute, namespace: limited}
spec:
  hard: {requests.cpu: 600m, pods: "10"}
`, "apply", "-f", "-")
		ensureDefaultServiceAccount(t, s, "limited")
		// The resource-quota controller fills in status; without it, do
		// what it would.
		quotaReady := func() bool {
			q, err := c.CoreV1().ResourceQuotas("limited").Get(ctx, "compute", metav1.GetOptions{})
			return err == nil && len(q.Status.Hard) > 0
		}
		deadline := time.Now().Add(5 * time.Second)
		for !quotaReady() && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if !quotaReady() {
			q, err := c.CoreV1().ResourceQuotas("limited").Get(ctx, "compute", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			q.Status.Hard = q.Spec.Hard
			q.Status.Used = corev1.ResourceList{corev1.ResourceRequestsCPU: resource.MustParse("0"), corev1.ResourcePods: resource.MustParse("0")}
			if _, err := c.CoreV1().ResourceQuotas("limited").UpdateStatus(ctx, q, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		pod := func(name string) string {
			return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: limited}
spec: {containers: [{name: c, image: busybox}]}
`, name)
		}
		eventually(t, 10*time.Second, "first pod admitted with defaults", func() (bool, error) {
			_, err := s.Kubectl(ctx, pod("first"), "create", "-f", "-")
			return err == nil, err
		})
		got, err := c.CoreV1().Pods("limited").Get(ctx, "first", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		res := got.Spec.Containers[0].Resources
		if cpu := res.Requests[corev1.ResourceCPU]; cpu.String() != "250m" {
			t.Errorf("default cpu request = %s", cpu.String())
		}
		if mem := res.Limits[corev1.ResourceMemory]; mem.String() != "128Mi" {
			t.Errorf("default memory limit = %s", mem.String())
		}
		if !strings.HasPrefix(got.Annotations["kubernetes.io/limit-ranger"], "LimitRanger plugin set: cpu, memory request for container c") {
			t.Errorf("annotation = %q", got.Annotations["kubernetes.io/limit-ranger"])
		}
		kubectlMust(t, s, pod("second"), "create", "-f", "-")
		out, err := s.Kubectl(ctx, pod("third"), "create", "-f", "-")
		want := `pods "third" is forbidden: exceeded quota: compute, requested: requests.cpu=250m, used: requests.cpu=500m, limited: requests.cpu=600m`
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("got %q\nwant %q", strings.TrimSpace(out), want)
		}
	})
}

// jsonBase64 quotes the base64 of s for YAML.
func jsonBase64(s string) string {
	data, _ := json.Marshal([]byte(s))
	return string(data)
}
