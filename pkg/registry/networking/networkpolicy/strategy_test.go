package networkpolicy

import (
	"context"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestGeneration(t *testing.T) {
	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "np", Namespace: "default", Generation: 9},
		Spec:       networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}},
	}
	strategy.PrepareForCreate(context.Background(), np)
	if np.Generation != 1 {
		t.Fatalf("generation after create %d, want 1", np.Generation)
	}

	tests := []struct {
		name   string
		change func(*networkingv1.NetworkPolicy)
		want   int64
	}{
		{"metadata only", func(n *networkingv1.NetworkPolicy) { n.Labels = map[string]string{"a": "b"} }, 1},
		{"pod selector", func(n *networkingv1.NetworkPolicy) {
			n.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
		}, 2},
		// Upstream compares with reflect.DeepEqual: an empty rule list
		// replacing a missing one counts as a change.
		{"nil to empty ingress", func(n *networkingv1.NetworkPolicy) { n.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{} }, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			updated := np.DeepCopy()
			tc.change(updated)
			strategy.PrepareForUpdate(context.Background(), updated, np)
			if updated.Generation != tc.want {
				t.Errorf("generation %d, want %d", updated.Generation, tc.want)
			}
		})
	}
}

func TestCIDRWarnings(t *testing.T) {
	np := &networkingv1.NetworkPolicy{Spec: networkingv1.NetworkPolicySpec{
		Egress: []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.1/8", Except: []string{"10.1.0.0/16"}}},
		}}},
	}}
	w := strategy.WarningsOnCreate(context.Background(), np)
	if len(w) != 1 {
		t.Fatalf("got warnings %v, want one for the cidr with host bits", w)
	}
	if want := "spec.egress[0].to[0].ipBlock.cidr: "; len(w[0]) < len(want) || w[0][:len(want)] != want {
		t.Errorf("warning %q does not start with %q", w[0], want)
	}
}
