package resourcequota

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func quota(hard, used corev1.ResourceList) *corev1.ResourceQuota {
	return &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns"},
		Spec:       corev1.ResourceQuotaSpec{Hard: hard},
		Status:     corev1.ResourceQuotaStatus{Hard: hard, Used: used},
	}
}

func list(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func TestStatusIsTheControllers(t *testing.T) {
	q := quota(list("pods", "10"), list("pods", "3"))
	strategy.PrepareForCreate(context.Background(), q)
	if !reflect.DeepEqual(q.Status, corev1.ResourceQuotaStatus{}) {
		t.Errorf("status on create = %+v, want empty", q.Status)
	}

	old := quota(list("pods", "10"), list("pods", "3"))
	updated := quota(list("pods", "20"), list("pods", "0"))
	strategy.PrepareForUpdate(context.Background(), updated, old)
	if updated.Status.Used.Pods().String() != "3" || updated.Spec.Hard.Pods().String() != "20" {
		t.Errorf("main update: spec %v status %v", updated.Spec.Hard, updated.Status.Used)
	}

	updated = quota(list("pods", "20"), list("pods", "5"))
	statusStrategy.PrepareForUpdate(context.Background(), updated, old)
	if updated.Status.Used.Pods().String() != "5" || updated.Spec.Hard.Pods().String() != "10" {
		t.Errorf("status update: spec %v status %v", updated.Spec.Hard, updated.Status.Used)
	}
}

func TestWarningsOnCreate(t *testing.T) {
	tests := []struct {
		hard corev1.ResourceList
		want []string
	}{
		{list("requests.cpu", "2", "limits.cpu", "1"), []string{"ResourceQuota requests.cpu (2) should be less than limits.cpu (1)"}},
		{list("memory", "2Gi", "limits.memory", "1Gi"), []string{"ResourceQuota memory (2Gi) should be less than limits.memory (1Gi)"}},
		{list("requests.cpu", "1", "limits.cpu", "2"), nil},
		{list("requests.storage", "1"), nil},
	}
	for _, tt := range tests {
		if got := strategy.WarningsOnCreate(context.Background(), quota(tt.hard, nil)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("warnings for %v = %q, want %q", tt.hard, got, tt.want)
		}
	}
}
