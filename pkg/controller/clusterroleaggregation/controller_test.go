package clusterroleaggregation

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

func role(name string, labels map[string]string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Rules: rules}
}

func rule(verb, resource string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: []string{verb}, APIGroups: []string{""}, Resources: []string{resource}}
}

func TestAggregates(t *testing.T) {
	agg := role("view", map[string]string{"rbac.authorization.k8s.io/aggregate-to-edit": "true"})
	agg.AggregationRule = &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate-to-view": "true"}}}}
	selected := map[string]string{"aggregate-to-view": "true"}
	objs := []*rbacv1.ClusterRole{
		agg,
		role("b-pods", selected, rule("get", "pods"), rule("list", "pods")),
		role("a-svc", selected, rule("get", "services"), rule("get", "pods")), // duplicate rule kept once
		role("unrelated", nil, rule("delete", "nodes")),
	}
	client := fake.NewClientset(agg)
	f := informers.NewSharedInformerFactory(client, 0)
	for _, o := range objs {
		if err := f.Rbac().V1().ClusterRoles().Informer().GetIndexer().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	c, err := NewController(f.Rbac().V1().ClusterRoles(), client.RbacV1())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.sync(context.Background(), "view"); err != nil {
		t.Fatal(err)
	}
	got, err := client.RbacV1().ClusterRoles().Get(context.Background(), "view", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []rbacv1.PolicyRule{rule("get", "services"), rule("get", "pods"), rule("list", "pods")}
	if len(got.Rules) != len(want) {
		t.Fatalf("rules = %v, want %v", got.Rules, want)
	}
	for i := range want {
		if got.Rules[i].Verbs[0] != want[i].Verbs[0] || got.Rules[i].Resources[0] != want[i].Resources[0] {
			t.Errorf("rule %d = %v, want %v (roles in name order)", i, got.Rules[i], want[i])
		}
	}

	// Already up to date: no write.
	agg.Rules = got.Rules
	_ = f.Rbac().V1().ClusterRoles().Informer().GetIndexer().Update(agg)
	client.ClearActions()
	if err := c.sync(context.Background(), "view"); err != nil {
		t.Fatal(err)
	}
	if n := len(client.Actions()); n != 0 {
		t.Errorf("%d API calls for an up-to-date role", n)
	}
}
