//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/simulator"
	"github.com/skiff-project/skiff/test/e2e/framework"
)

// testResourceClaimFromTemplate: a pod naming a ResourceClaimTemplate gets
// its own ResourceClaim (controlled by the pod, recorded in its status);
// when the pod has finished, the claim is deleted. The pod is bound to a
// simulated node directly (skiff's scheduler does not allocate devices).
func testResourceClaimFromTemplate(t *testing.T, s *framework.Server) {
	ctx := context.Background()
	c := s.Client()
	ns := newTestNamespace(t, c, "resourceclaim")

	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: mainPoolLabel + "=main"})
	if err != nil || len(nodes.Items) == 0 {
		t.Fatalf("no main-pool node: %v", err)
	}
	if _, err := c.ResourceV1().ResourceClaimTemplates(ns).Create(ctx, &resourceapi.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu"},
		Spec: resourceapi.ResourceClaimTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"from": "template"}},
			Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{
				{Name: "one", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: "gpu.example.com"}},
			}}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "trainer", Annotations: map[string]string{simulator.RunDurationAnnotation: "3s"}},
		Spec: corev1.PodSpec{
			NodeName:       nodes.Items[0].Name,
			RestartPolicy:  corev1.RestartPolicyNever,
			Containers:     []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
			ResourceClaims: []corev1.PodResourceClaim{{Name: "accel", ResourceClaimTemplateName: ptr.To("gpu")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	var claimName string
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, st := range p.Status.ResourceClaimStatuses {
			if st.Name == "accel" && st.ResourceClaimName != nil {
				claimName = *st.ResourceClaimName
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		t.Fatal("the pod's status never recorded a claim for accel")
	}
	claim, err := c.ResourceV1().ResourceClaims(ns).Get(ctx, claimName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("recorded claim %s: %v", claimName, err)
	}
	if !metav1.IsControlledBy(claim, pod) || claim.Annotations[resourceapi.PodResourceClaimAnnotation] != "accel" || claim.Labels["from"] != "template" {
		t.Errorf("claim %s metadata = %+v", claimName, claim.ObjectMeta)
	}

	// A pod left to the scheduler waits: nothing allocates its claim.
	waiting, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "waiting"},
		Spec: corev1.PodSpec{
			NodeSelector:   map[string]string{mainPoolLabel: "main"},
			Containers:     []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}},
			ResourceClaims: []corev1.PodResourceClaim{{Name: "accel", ResourceClaimTemplateName: ptr.To("gpu")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var lastMsg string
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		p, err := c.CoreV1().Pods(ns).Get(ctx, waiting.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionFalse {
				lastMsg = cond.Message
				return strings.Contains(cond.Message, "cannot allocate all claims"), nil
			}
		}
		return false, nil
	}); err != nil {
		t.Errorf("pod with an unallocated claim: PodScheduled message %q, want it unschedulable: cannot allocate all claims", lastMsg)
	}

	// Done pod: its generated claim goes.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := c.ResourceV1().ResourceClaims(ns).Get(ctx, claimName, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	}); err != nil {
		p, _ := c.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		t.Fatalf("claim %s of the finished pod was never deleted (pod phase %s)", claimName, p.Status.Phase)
	}
	if p, err := c.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{}); err != nil || p.Status.Phase != corev1.PodSucceeded {
		t.Errorf("claim deleted while the pod is %s (err %v), want after it Succeeded", p.Status.Phase, err)
	}
}
