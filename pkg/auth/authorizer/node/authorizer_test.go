package node

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/skiff-project/skiff/pkg/auth/bootstrappolicy"
)

func nodeUser(name string) user.Info {
	return &user.DefaultInfo{Name: NodeUserPrefix + name, Groups: []string{user.NodesGroup, user.AllAuthenticated}}
}

func attrs(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource, Subresource: sub,
		Namespace: ns, Name: name, ResourceRequest: true}
}

func TestIdentity(t *testing.T) {
	tests := []struct {
		u      user.Info
		name   string
		isNode bool
	}{
		{nodeUser("n1"), "n1", true},
		{&user.DefaultInfo{Name: "system:node:n1"}, "", false},
		{&user.DefaultInfo{Name: "bob", Groups: []string{user.NodesGroup}}, "", true},
		{nil, "", false},
	}
	for _, tc := range tests {
		name, isNode := Identity(tc.u)
		if name != tc.name || isNode != tc.isNode {
			t.Errorf("Identity(%v) = %q, %v; want %q, %v", tc.u, name, isNode, tc.name, tc.isNode)
		}
	}
}

func TestAuthorize(t *testing.T) {
	g := NewGraph()
	g.AddPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web"},
		Spec: corev1.PodSpec{
			NodeName:           "n1",
			ServiceAccountName: "web-sa",
			ImagePullSecrets:   []corev1.LocalObjectReference{{Name: "pull"}},
			Containers:         []corev1.Container{{Name: "c", EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "env"}}}}}},
			Volumes: []corev1.Volume{
				{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
				{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
			},
		},
	})
	g.AddPod(&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "mirror", Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "x"}},
		Spec:       corev1.PodSpec{NodeName: "n2", Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "mirror-secret"}}}}},
	})
	g.AddPV(&corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: "pv1"},
		Spec: corev1.PersistentVolumeSpec{
			ClaimRef: &corev1.ObjectReference{Namespace: "ns", Name: "data"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: "d", VolumeHandle: "h", NodePublishSecretRef: &corev1.SecretReference{Namespace: "ns", Name: "csi-secret"},
			}},
		},
	})
	a := New(g, bootstrappolicy.NodeRules())
	n1, n2 := nodeUser("n1"), nodeUser("n2")
	selectNode := func(a authorizer.AttributesRecord, node string) authorizer.AttributesRecord {
		a.FieldSelectorRequirements = fields.ParseSelectorOrDie("spec.nodeName=" + node).Requirements()
		return a
	}
	tests := []struct {
		name  string
		attrs authorizer.Attributes
		allow bool
	}{
		{"secret of its pod", attrs(n1, "get", "", "secrets", "", "ns", "creds"), true},
		{"pull secret of its pod", attrs(n1, "get", "", "secrets", "", "ns", "pull"), true},
		{"secret of another node's pod", attrs(n2, "get", "", "secrets", "", "ns", "creds"), false},
		{"unrelated secret", attrs(n1, "get", "", "secrets", "", "ns", "other"), false},
		{"listing secrets", attrs(n1, "list", "", "secrets", "", "ns", ""), false},
		{"writing a secret", attrs(n1, "update", "", "secrets", "", "ns", "creds"), false},
		{"configmap of its pod", attrs(n1, "get", "", "configmaps", "", "ns", "env"), true},
		{"claim of its pod", attrs(n1, "get", "", "persistentvolumeclaims", "", "ns", "data"), true},
		{"claim status of its pod", attrs(n1, "patch", "", "persistentvolumeclaims", "status", "ns", "data"), true},
		{"volume of its pod's claim", attrs(n1, "get", "", "persistentvolumes", "", "", "pv1"), true},
		{"volume secret", attrs(n1, "get", "", "secrets", "", "ns", "csi-secret"), true},
		{"volume of another node", attrs(n2, "get", "", "persistentvolumes", "", "", "pv1"), false},
		{"mirror pods grant nothing", attrs(n2, "get", "", "secrets", "", "ns", "mirror-secret"), false},
		{"token for its pod's service account", attrs(n1, "create", "", "serviceaccounts", "token", "ns", "web-sa"), true},
		{"token for another service account", attrs(n1, "create", "", "serviceaccounts", "token", "ns", "default"), false},
		{"its own node", attrs(n1, "get", "", "nodes", "", "", "n1"), true},
		{"another node", attrs(n1, "get", "", "nodes", "", "", "n2"), false},
		{"all nodes", attrs(n1, "list", "", "nodes", "", "", ""), false},
		{"node status", attrs(n1, "patch", "", "nodes", "status", "", "n1"), true},
		{"pods on its node", selectNode(attrs(n1, "list", "", "pods", "", "", ""), "n1"), true},
		{"pods on another node", selectNode(attrs(n1, "list", "", "pods", "", "", ""), "n2"), false},
		{"all pods", attrs(n1, "list", "", "pods", "", "", ""), false},
		{"its own lease", attrs(n1, "update", "coordination.k8s.io", "leases", "", corev1.NamespaceNodeLease, "n1"), true},
		{"another node's lease", attrs(n1, "update", "coordination.k8s.io", "leases", "", corev1.NamespaceNodeLease, "n2"), false},
		{"services through the system:node role", attrs(n1, "list", "", "services", "", "", ""), true},
		{"deployments not at all", attrs(n1, "list", "apps", "deployments", "", "", ""), false},
		{"not a node", attrs(&user.DefaultInfo{Name: "alice"}, "get", "", "secrets", "", "ns", "creds"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := d == authorizer.DecisionAllow; got != tc.allow {
				t.Errorf("allowed = %v (%q), want %v", got, reason, tc.allow)
			}
		})
	}

	// Deleting the pod revokes what it granted.
	g.DeletePod("ns", "web")
	if d, _, _ := a.Authorize(context.Background(), attrs(n1, "get", "", "secrets", "", "ns", "creds")); d == authorizer.DecisionAllow {
		t.Error("secret still readable after its pod was deleted")
	}
	if d, _, _ := a.Authorize(context.Background(), attrs(n1, "get", "", "persistentvolumes", "", "", "pv1")); d == authorizer.DecisionAllow {
		t.Error("volume still readable after its pod was deleted")
	}
}

func TestRulesForNodesIsIncomplete(t *testing.T) {
	a := New(NewGraph(), nil)
	if _, _, incomplete, err := a.RulesFor(context.Background(), nodeUser("n1"), "ns"); !incomplete || err == nil {
		t.Errorf("nodes' rules: incomplete=%v err=%v, want incomplete with an error", incomplete, err)
	}
	if _, _, incomplete, err := a.RulesFor(context.Background(), &user.DefaultInfo{Name: "u"}, "ns"); incomplete || err != nil {
		t.Errorf("others' rules: incomplete=%v err=%v, want complete", incomplete, err)
	}
}
