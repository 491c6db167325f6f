package noderestriction

import (
	"context"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

type denyAll struct{}

func (denyAll) Authorize(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
	return authorizer.DecisionNoOpinion, "", nil
}

func newPlugin(t *testing.T, objs ...runtime.Object) *Plugin {
	t.Helper()
	f := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = f.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Node:
			err = f.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	p := New()
	p.SetExternalKubeInformerFactory(f)
	p.SetUnconditionalAuthorizer(denyAll{})
	if err := p.ValidateInitialization(); err != nil {
		t.Fatal(err)
	}
	return p
}

var n1 = &user.DefaultInfo{Name: "system:node:n1", Groups: []string{user.NodesGroup}}

func record(obj, old runtime.Object, gvr schema.GroupVersionResource, kind, ns, name, sub string, op admission.Operation, u user.Info) admission.Attributes {
	return admission.NewAttributesRecord(obj, old, gvr.GroupVersion().WithKind(kind), ns, name, gvr, sub, op, nil, false, u)
}

func TestNodeRestriction(t *testing.T) {
	podOnN1 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mine", UID: "pod-uid"}, Spec: corev1.PodSpec{
		NodeName: "n1", ServiceAccountName: "sa",
		Volumes: []corev1.Volume{{Name: "t", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}}}
	podOnN2 := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "theirs", UID: "p2"}, Spec: corev1.PodSpec{NodeName: "n2"}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "node-uid", Labels: map[string]string{"kubernetes.io/hostname": "n1"}}}
	p := newPlugin(t, podOnN1, podOnN2, node)

	pods := corev1.SchemeGroupVersion.WithResource("pods")
	nodes := corev1.SchemeGroupVersion.WithResource("nodes")
	leases := coordinationv1.SchemeGroupVersion.WithResource("leases")
	sas := corev1.SchemeGroupVersion.WithResource("serviceaccounts")

	relabelled := node.DeepCopy()
	relabelled.Labels["node-role.kubernetes.io/control-plane"] = ""
	kubeletLabel := node.DeepCopy()
	kubeletLabel.Labels["topology.kubernetes.io/zone"] = "z1"
	tainted := node.DeepCopy()
	tainted.Spec.Taints = []corev1.Taint{{Key: "k", Effect: corev1.TaintEffectNoSchedule}}
	statusLabelled := podOnN1.DeepCopy()
	statusLabelled.Labels = map[string]string{"a": "b"}
	mirror := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "static-n1",
		Annotations:     map[string]string{corev1.MirrorPodAnnotationKey: "h"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "node-uid", Controller: ptr.To(true)}}},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "i"}}}}
	mirrorWithSecret := mirror.DeepCopy()
	mirrorWithSecret.Spec.Volumes = []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}}}}
	token := func(podName, uid string) *authenticationv1.TokenRequest {
		return &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:      []string{},
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: podName, UID: types.UID(uid)}}}
	}

	tests := []struct {
		name  string
		attrs admission.Attributes
		want  string // "" allows
	}{
		{"update own status", record(node, node, nodes, "Node", "", "n1", "status", admission.Update, n1), ""},
		{"update another node", record(node, node, nodes, "Node", "", "n2", "", admission.Update, n1), `node "n1" is not allowed to modify node "n2"`},
		{"set a role label", record(relabelled, node, nodes, "Node", "", "n1", "", admission.Update, n1), "is not allowed to modify labels: node-role.kubernetes.io/control-plane"},
		{"set a kubelet label", record(kubeletLabel, node, nodes, "Node", "", "n1", "", admission.Update, n1), ""},
		{"change taints", record(tainted, node, nodes, "Node", "", "n1", "", admission.Update, n1), `node "n1" is not allowed to modify taints`},
		{"status of its pod", record(podOnN1, podOnN1, pods, "Pod", "ns", "mine", "status", admission.Update, n1), ""},
		{"status of another node's pod", record(podOnN2, podOnN2, pods, "Pod", "ns", "theirs", "status", admission.Update, n1), "can only update pod status for pods with spec.nodeName set to itself"},
		{"labels through status", record(statusLabelled, podOnN1, pods, "Pod", "ns", "mine", "status", admission.Update, n1), "cannot update labels through pod status"},
		{"delete its pod", record(nil, podOnN1, pods, "Pod", "ns", "mine", "", admission.Delete, n1), ""},
		{"delete another node's pod", record(nil, podOnN2, pods, "Pod", "ns", "theirs", "", admission.Delete, n1), "can only delete pods with spec.nodeName set to itself"},
		{"create a mirror pod", record(mirror, nil, pods, "Pod", "ns", "static-n1", "", admission.Create, n1), ""},
		{"create a regular pod", record(podOnN1, nil, pods, "Pod", "ns", "mine", "", admission.Create, n1), "can only create mirror pods"},
		{"mirror pod with a secret", record(mirrorWithSecret, nil, pods, "Pod", "ns", "static-n1", "", admission.Create, n1), `node "n1" can not create pods that reference secrets`},
		{"own lease", record(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, nil, leases, "Lease", corev1.NamespaceNodeLease, "n1", "", admission.Create, n1), ""},
		{"another node's lease", record(&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "n2"}}, nil, leases, "Lease", corev1.NamespaceNodeLease, "n2", "", admission.Create, n1), "can only access node lease with the same name"},
		{"token for its pod", record(token("mine", "pod-uid"), nil, sas, "TokenRequest", "ns", "sa", "token", admission.Create, n1), ""},
		{"token for another node's pod", record(token("theirs", "p2"), nil, sas, "TokenRequest", "ns", "sa", "token", admission.Create, n1), "node requested token bound to a pod scheduled on a different node"},
		{"token for an audience its pod does not use", record(&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			Audiences:      []string{"vault"},
			BoundObjectRef: &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: "mine", UID: "pod-uid"}}},
			nil, sas, "TokenRequest", "ns", "sa", "token", admission.Create, n1), `is not authorized to request tokens for audience "vault"`},
		{"unbound token", record(&authenticationv1.TokenRequest{}, nil, sas, "TokenRequest", "ns", "sa", "token", admission.Create, n1), "node requested token not bound to a pod"},
		{"other users pass", record(podOnN2, podOnN2, pods, "Pod", "ns", "theirs", "status", admission.Update, &user.DefaultInfo{Name: "alice"}), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Admit(context.Background(), tc.attrs, nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
