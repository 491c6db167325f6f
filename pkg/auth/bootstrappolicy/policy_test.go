package bootstrappolicy

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// The golden files in testdata are upstream v1.37.2's
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/testdata), produced with
// the default feature gates.

func loadGolden[T any](t *testing.T, name string) []T {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []T `json:"items"`
	}
	if err := yaml.Unmarshal(data, &list); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return list.Items
}

func TestClusterRolesMatchUpstream(t *testing.T) {
	want := append(loadGolden[rbacv1.ClusterRole](t, "cluster-roles.yaml"), loadGolden[rbacv1.ClusterRole](t, "controller-roles.yaml")...)
	got := map[string]rbacv1.ClusterRole{}
	for _, r := range ClusterRoles() {
		if _, dup := got[r.Name]; dup {
			t.Errorf("clusterrole %s defined twice", r.Name)
		}
		got[r.Name] = r
	}
	if len(got) != len(want) {
		t.Errorf("got %d cluster roles, upstream has %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("clusterrole %s missing", w.Name)
			continue
		}
		w.TypeMeta = g.TypeMeta
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("clusterrole %s differs from upstream (-upstream +skiff):\n%s", w.Name, diff)
		}
	}
}

func TestClusterRoleBindingsMatchUpstream(t *testing.T) {
	want := append(loadGolden[rbacv1.ClusterRoleBinding](t, "cluster-role-bindings.yaml"), loadGolden[rbacv1.ClusterRoleBinding](t, "controller-role-bindings.yaml")...)
	got := map[string]rbacv1.ClusterRoleBinding{}
	for _, b := range ClusterRoleBindings() {
		got[b.Name] = b
	}
	if len(got) != len(want) {
		t.Errorf("got %d cluster role bindings, upstream has %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.Name]
		if !ok {
			t.Errorf("clusterrolebinding %s missing", w.Name)
			continue
		}
		w.TypeMeta = g.TypeMeta
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("clusterrolebinding %s differs from upstream (-upstream +skiff):\n%s", w.Name, diff)
		}
	}
}

func TestNamespacedPolicyMatchesUpstream(t *testing.T) {
	wantRoles := loadGolden[rbacv1.Role](t, "namespace-roles.yaml")
	gotRoles := map[string]rbacv1.Role{}
	for _, r := range Roles() {
		if !strings.HasPrefix(r.Namespace, "kube-") {
			t.Errorf("role %s/%s outside the kube- namespaces", r.Namespace, r.Name)
		}
		gotRoles[r.Namespace+"/"+r.Name] = r
	}
	if len(gotRoles) != len(wantRoles) {
		t.Errorf("got %d roles, upstream has %d", len(gotRoles), len(wantRoles))
	}
	for _, w := range wantRoles {
		g := gotRoles[w.Namespace+"/"+w.Name]
		w.TypeMeta = g.TypeMeta
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("role %s/%s differs from upstream (-upstream +skiff):\n%s", w.Namespace, w.Name, diff)
		}
	}
	wantBindings := loadGolden[rbacv1.RoleBinding](t, "namespace-role-bindings.yaml")
	gotBindings := map[string]rbacv1.RoleBinding{}
	for _, b := range RoleBindings() {
		gotBindings[b.Namespace+"/"+b.Name] = b
	}
	if len(gotBindings) != len(wantBindings) {
		t.Errorf("got %d role bindings, upstream has %d", len(gotBindings), len(wantBindings))
	}
	for _, w := range wantBindings {
		g := gotBindings[w.Namespace+"/"+w.Name]
		w.TypeMeta = g.TypeMeta
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("rolebinding %s/%s differs from upstream (-upstream +skiff):\n%s", w.Namespace, w.Name, diff)
		}
	}
}
