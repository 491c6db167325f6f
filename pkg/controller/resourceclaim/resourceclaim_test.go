package resourceclaim

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

const ns = "ns"

func templatePod(phase corev1.PodPhase, node string, recorded ...string) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web", UID: "pod-uid"},
		Spec: corev1.PodSpec{NodeName: node, ResourceClaims: []corev1.PodResourceClaim{
			{Name: "gpu", ResourceClaimTemplateName: ptr.To("gpu-template")},
		}},
		Status: corev1.PodStatus{Phase: phase},
	}
	for _, name := range recorded {
		pod.Status.ResourceClaimStatuses = append(pod.Status.ResourceClaimStatuses, corev1.PodResourceClaimStatus{Name: "gpu", ResourceClaimName: ptr.To(name)})
	}
	return pod
}

func template() *resourceapi.ResourceClaimTemplate {
	return &resourceapi.ResourceClaimTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "gpu-template"},
		Spec: resourceapi.ResourceClaimTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"from": "template"}},
			Spec: resourceapi.ResourceClaimSpec{Devices: resourceapi.DeviceClaim{Requests: []resourceapi.DeviceRequest{
				{Name: "req", Exactly: &resourceapi.ExactDeviceRequest{DeviceClassName: "gpu.example.com"}},
			}}},
		},
	}
}

// generatedClaim is a claim the controller made for templatePod.
func generatedClaim(name string) *resourceapi.ResourceClaim {
	return &resourceapi.ResourceClaim{ObjectMeta: metav1.ObjectMeta{
		Namespace: ns, Name: name,
		Annotations:     map[string]string{resourceapi.PodResourceClaimAnnotation: "gpu"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: "web", UID: "pod-uid", Controller: ptr.To(true)}},
	}}
}

func allocated(claim *resourceapi.ResourceClaim, reservedFor ...resourceapi.ResourceClaimConsumerReference) *resourceapi.ResourceClaim {
	claim.Finalizers = []string{resourceapi.Finalizer}
	claim.Status.Allocation = &resourceapi.AllocationResult{}
	claim.Status.ReservedFor = reservedFor
	return claim
}

func newTestController(t *testing.T, objects ...runtime.Object) (*Controller, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objects...)
	// The fake tracker does not fill in generated names.
	client.PrependReactor("create", "resourceclaims", func(action k8stesting.Action) (bool, runtime.Object, error) {
		claim := action.(k8stesting.CreateAction).GetObject().(*resourceapi.ResourceClaim)
		if claim.Name == "" {
			claim.Name = claim.GenerateName + "x1y2z"
		}
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c, err := NewController(client, factory.Core().V1().Pods(), factory.Resource().V1().ResourceClaims(), factory.Resource().V1().ResourceClaimTemplates())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	factory.Start(ctx.Done())
	cache.WaitForCacheSync(ctx.Done(), c.synced...)
	return c, client
}

func listClaims(t *testing.T, client *fake.Clientset) []resourceapi.ResourceClaim {
	t.Helper()
	list, err := client.ResourceV1().ResourceClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func recordedClaim(t *testing.T, client *fake.Clientset) string {
	t.Helper()
	pod, err := client.CoreV1().Pods(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range pod.Status.ResourceClaimStatuses {
		if s.Name == "gpu" && s.ResourceClaimName != nil {
			return *s.ResourceClaimName
		}
	}
	return ""
}

func TestPodGetsClaimFromTemplate(t *testing.T) {
	c, client := newTestController(t, templatePod(corev1.PodPending, ""), template())
	if err := c.syncPod(context.Background(), ns, "web"); err != nil {
		t.Fatal(err)
	}
	claims := listClaims(t, client)
	if len(claims) != 1 {
		t.Fatalf("claims = %d, want 1", len(claims))
	}
	claim := claims[0]
	if claim.GenerateName != "web-gpu-" || claim.Annotations[resourceapi.PodResourceClaimAnnotation] != "gpu" ||
		claim.Annotations["from"] != "template" || claim.Labels["app"] != "web" {
		t.Errorf("claim metadata = %+v", claim.ObjectMeta)
	}
	if !metav1.IsControlledBy(&claim, templatePod("", "")) {
		t.Errorf("claim owners = %+v, want controlled by the pod", claim.OwnerReferences)
	}
	if len(claim.Spec.Devices.Requests) != 1 || claim.Spec.Devices.Requests[0].Exactly.DeviceClassName != "gpu.example.com" {
		t.Errorf("claim spec = %+v, want the template's", claim.Spec)
	}
	if got := recordedClaim(t, client); got != claim.Name {
		t.Errorf("pod status records %q, want %q", got, claim.Name)
	}
	// Another pass creates nothing more.
	if err := c.syncPod(context.Background(), ns, "web"); err != nil {
		t.Fatal(err)
	}
	if n := len(listClaims(t, client)); n != 1 {
		t.Errorf("claims after a second sync = %d, want 1", n)
	}
}

func TestPodClaimCases(t *testing.T) {
	for name, tc := range map[string]struct {
		objects    []runtime.Object
		wantClaims int
		wantRecord string // "" = whatever was created
	}{
		"an unrecorded claim made earlier is recorded, not made again": {
			objects:    []runtime.Object{templatePod(corev1.PodPending, ""), template(), generatedClaim("web-gpu-early")},
			wantClaims: 1, wantRecord: "web-gpu-early",
		},
		"a recorded claim that was deleted is made again": {
			objects:    []runtime.Object{templatePod(corev1.PodPending, "", "web-gpu-gone"), template()},
			wantClaims: 1,
		},
		"no template yet: nothing": {
			objects: []runtime.Object{templatePod(corev1.PodPending, "")},
		},
		"a finished pod gets no claim": {
			objects: []runtime.Object{templatePod(corev1.PodSucceeded, "n1"), template()},
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, client := newTestController(t, tc.objects...)
			err := c.syncPod(context.Background(), ns, "web")
			if name == "no template yet: nothing" {
				if err == nil || !strings.Contains(err.Error(), "gpu-template") {
					t.Errorf("err = %v, want the missing template named", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			claims := listClaims(t, client)
			if len(claims) != tc.wantClaims {
				t.Fatalf("claims = %d, want %d", len(claims), tc.wantClaims)
			}
			if tc.wantClaims == 0 {
				return
			}
			want := tc.wantRecord
			if want == "" {
				want = claims[0].Name
			}
			if got := recordedClaim(t, client); got != want {
				t.Errorf("recorded %q, want %q", got, want)
			}
		})
	}
}

func TestScheduledPodReservesAllocatedClaim(t *testing.T) {
	c, client := newTestController(t, templatePod(corev1.PodPending, "n1", "web-gpu-a"), template(), allocated(generatedClaim("web-gpu-a")))
	if err := c.syncPod(context.Background(), ns, "web"); err != nil {
		t.Fatal(err)
	}
	claim, err := client.ResourceV1().ResourceClaims(ns).Get(context.Background(), "web-gpu-a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(claim.Status.ReservedFor) != 1 || claim.Status.ReservedFor[0].UID != "pod-uid" || claim.Status.ReservedFor[0].Resource != "pods" {
		t.Errorf("reservedFor = %+v, want the pod", claim.Status.ReservedFor)
	}
}

func TestSyncClaim(t *testing.T) {
	podRef := resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: "web", UID: "pod-uid"}
	otherRef := resourceapi.ResourceClaimConsumerReference{Resource: "pods", Name: "other", UID: "other-uid"}
	for name, tc := range map[string]struct {
		objects                 []runtime.Object
		wantGone                bool
		wantReserved            int
		wantAllocated, wantProt bool
	}{
		"reservation of a running pod stays": {
			objects:      []runtime.Object{templatePod(corev1.PodRunning, "n1", "c"), allocated(generatedClaim("c"), podRef)},
			wantReserved: 1, wantAllocated: true, wantProt: true,
		},
		"reservation of a deleted pod goes, and with it allocation and finalizer": {
			objects: []runtime.Object{allocated(generatedClaim("c"), podRef)},
		},
		"reservation of a replaced pod goes": {
			objects: []runtime.Object{func() runtime.Object {
				p := templatePod(corev1.PodRunning, "n1", "c")
				p.UID = "new-uid"
				return p
			}(), allocated(generatedClaim("c"), podRef)},
			wantGone: true, // and the claim, generated for the old pod, is deleted
		},
		"generated claim of a finished pod is deleted": {
			objects:  []runtime.Object{templatePod(corev1.PodSucceeded, "n1", "c"), allocated(generatedClaim("c"), podRef)},
			wantGone: true,
		},
		"a user's claim outlives its pods": {
			objects: []runtime.Object{templatePod(corev1.PodFailed, "n1"), func() runtime.Object {
				cl := allocated(generatedClaim("c"), podRef, otherRef)
				cl.OwnerReferences = nil
				return cl
			}()},
			wantReserved: 0, // both pods are done or gone
		},
		"another consumer keeps the allocation": {
			objects: []runtime.Object{
				&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "other", UID: "other-uid"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
				allocated(generatedClaim("c"), podRef, otherRef)},
			wantReserved: 1, wantAllocated: true, wantProt: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			c, client := newTestController(t, tc.objects...)
			if err := c.syncClaim(context.Background(), ns, "c"); err != nil {
				t.Fatal(err)
			}
			claims := listClaims(t, client)
			if tc.wantGone {
				if len(claims) != 0 {
					t.Fatalf("claim still there: %+v", claims[0])
				}
				return
			}
			if len(claims) != 1 {
				t.Fatalf("claims = %d, want 1", len(claims))
			}
			claim := claims[0]
			if len(claim.Status.ReservedFor) != tc.wantReserved {
				t.Errorf("reservedFor = %+v, want %d entries", claim.Status.ReservedFor, tc.wantReserved)
			}
			if (claim.Status.Allocation != nil) != tc.wantAllocated {
				t.Errorf("allocated = %v, want %v", claim.Status.Allocation != nil, tc.wantAllocated)
			}
			if prot := len(claim.Finalizers) > 0; prot != tc.wantProt {
				t.Errorf("finalizers = %v, want protected %v", claim.Finalizers, tc.wantProt)
			}
		})
	}
}

func TestGenerateName(t *testing.T) {
	if got := generateName("web", "gpu"); got != "web-gpu-" {
		t.Errorf("short = %q", got)
	}
	long := generateName(strings.Repeat("p", 50), strings.Repeat("c", 30))
	if len(long) > maxGenerateNameBase || !strings.Contains(long, "p-c") {
		t.Errorf("long = %q (%d chars), want both parts within %d", long, len(long), maxGenerateNameBase)
	}
}
