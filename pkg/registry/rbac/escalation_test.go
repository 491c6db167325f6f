package rbac

import (
	"context"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestOnlyGCFieldsChanged(t *testing.T) {
	old := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"},
		Rules:      []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}},
	}
	gcOnly := old.DeepCopy()
	gcOnly.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "owner", UID: "1"}}
	gcOnly.Finalizers = []string{"foregroundDeletion"}
	moreRules := old.DeepCopy()
	moreRules.Rules[0].Verbs = append(moreRules.Rules[0].Verbs, "delete")
	newLabel := old.DeepCopy()
	newLabel.Labels = map[string]string{"a": "b"}

	tests := []struct {
		name     string
		obj, old *rbacv1.Role
		want     bool
	}{
		{"owner references and finalizers", gcOnly, old, true},
		{"rules", moreRules, old, false},
		{"labels", newLabel, old, false},
		{"create on update (no old object)", gcOnly, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A missing old object arrives as a typed nil.
			if got := onlyGCFieldsChanged(tc.obj, tc.old); got != tc.want {
				t.Errorf("onlyGCFieldsChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEscalationAllowedForMastersOnly(t *testing.T) {
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"no user", context.Background(), false},
		{"ordinary user", genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "a", Groups: []string{"devs"}}), false},
		{"system:masters", genericapirequest.WithUser(context.Background(), &user.DefaultInfo{Name: "admin", Groups: []string{user.SystemPrivilegedGroup}}), true},
	}
	for _, tc := range tests {
		if got := EscalationAllowed(tc.ctx); got != tc.want {
			t.Errorf("%s: EscalationAllowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}
