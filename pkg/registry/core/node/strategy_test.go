package node

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func requestContext() context.Context {
	return genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{APIGroup: "", APIVersion: "v1", Resource: "nodes"})
}

func testNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{PodCIDR: "10.244.1.0/24", PodCIDRs: []string{"10.244.1.0/24"}},
		Status: corev1.NodeStatus{
			Addresses:       []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.0.2.10"}},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
		},
	}
}

func TestCreateKeepsStatusAndDropsConfigSource(t *testing.T) {
	node := testNode()
	node.Spec.ConfigSource = &corev1.NodeConfigSource{}
	node.Status.Config = &corev1.NodeConfigStatus{}
	strategy.PrepareForCreate(requestContext(), node)
	if len(node.Status.Addresses) != 2 {
		t.Error("a node's status given at create was dropped (kubelets register with one)")
	}
	if node.Spec.ConfigSource != nil || node.Status.Config != nil {
		t.Error("the removed dynamic kubelet config fields were kept")
	}
}

func TestStatusOnlyThroughStatus(t *testing.T) {
	ctx := requestContext()
	old := testNode()
	upd := old.DeepCopy()
	upd.Status.Addresses = nil
	upd.Spec.Unschedulable = true
	strategy.PrepareForUpdate(ctx, upd, old)
	if len(upd.Status.Addresses) != 2 || !upd.Spec.Unschedulable {
		t.Errorf("main resource update: spec %+v status %+v", upd.Spec, upd.Status)
	}

	status := old.DeepCopy()
	status.Spec.Unschedulable = true
	status.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: *resourceQuantity(t, "4")}
	statusStrategy.PrepareForUpdate(ctx, status, old)
	if status.Spec.Unschedulable || status.Status.Capacity.Cpu().String() != "4" {
		t.Errorf("status update: spec %+v status %+v", status.Spec, status.Status)
	}
}

func TestPodCIDRIsImmutable(t *testing.T) {
	ctx := requestContext()
	old := testNode()
	upd := old.DeepCopy()
	upd.Spec.PodCIDR, upd.Spec.PodCIDRs = "10.244.2.0/24", []string{"10.244.2.0/24"}
	errs := strategy.ValidateUpdate(ctx, upd, old)
	if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), `node updates may not change podCIDR except from "" to valid`) {
		t.Fatalf("changing the pod CIDR: %v", errs)
	}

	unset := old.DeepCopy()
	unset.Spec.PodCIDR, unset.Spec.PodCIDRs = "", nil
	set := unset.DeepCopy()
	set.Spec.PodCIDR, set.Spec.PodCIDRs = "10.244.3.0/24", []string{"10.244.3.0/24"}
	if errs := strategy.ValidateUpdate(ctx, set, unset); len(errs) != 0 {
		t.Fatalf("setting an unset pod CIDR: %v", errs)
	}
}

func TestGetAttrs(t *testing.T) {
	node := testNode()
	node.Spec.Unschedulable = true
	_, fields, err := getAttrs(node)
	if err != nil {
		t.Fatal(err)
	}
	if fields["spec.unschedulable"] != "true" || fields["metadata.name"] != "n1" {
		t.Errorf("fields = %v", fields)
	}
}

func TestKubeletLocation(t *testing.T) {
	ctx := context.Background()
	node := testNode()
	tests := []struct {
		name, scheme, port, want string
		mutate                   func(*corev1.Node)
	}{
		{name: "kubelet by default, at the InternalIP", want: "https://192.0.2.10:10250"},
		{name: "the kubelet port named", port: "10250", want: "https://192.0.2.10:10250"},
		{name: "the reported kubelet port", want: "https://192.0.2.10:17250", mutate: func(n *corev1.Node) { n.Status.DaemonEndpoints.KubeletEndpoint.Port = 17250 }},
		{name: "no reported port", want: "https://192.0.2.10:10250", mutate: func(n *corev1.Node) { n.Status.DaemonEndpoints.KubeletEndpoint.Port = 0 }},
		{name: "another port", scheme: "http", port: "8080", want: "http://192.0.2.10:8080"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := node.DeepCopy()
			if tc.mutate != nil {
				tc.mutate(n)
			}
			got, err := kubeletLocation(ctx, n, tc.scheme, tc.port)
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}

	loopback := testNode()
	loopback.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	if _, err := kubeletLocation(ctx, loopback, "", ""); !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), "address not allowed") {
		t.Errorf("a loopback node address: got %v, want 400 address not allowed", err)
	}
	none := testNode()
	none.Status.Addresses = nil
	if _, err := kubeletLocation(ctx, none, "", ""); err == nil {
		t.Error("a node without addresses got a location")
	}
}

func resourceQuantity(t *testing.T, s string) *resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return &q
}
