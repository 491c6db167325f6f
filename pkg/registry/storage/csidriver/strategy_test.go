package csidriver

import (
	"context"
	"testing"

	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestGenerationOnSpecChange(t *testing.T) {
	old := &storagev1.CSIDriver{
		ObjectMeta: metav1.ObjectMeta{Name: "d.example.com", Generation: 2},
		Spec:       storagev1.CSIDriverSpec{AttachRequired: ptr.To(true)},
	}
	relabelled := old.DeepCopy()
	relabelled.Labels = map[string]string{"a": "b"}
	strategy.PrepareForUpdate(context.Background(), relabelled, old)
	if relabelled.Generation != 2 {
		t.Errorf("generation %d after a label change, want 2", relabelled.Generation)
	}

	changed := old.DeepCopy()
	changed.Spec.TokenRequests = []storagev1.TokenRequest{{Audience: "x"}}
	strategy.PrepareForUpdate(context.Background(), changed, old)
	if changed.Generation != 3 {
		t.Errorf("generation %d after a spec change, want 3", changed.Generation)
	}
}

func TestTokenRequestsWarning(t *testing.T) {
	d := &storagev1.CSIDriver{Spec: storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: "x"}}}}
	if w := strategy.WarningsOnCreate(context.Background(), d); len(w) != 1 || w[0] != warningServiceAccountTokenInSecretsRecommended {
		t.Errorf("got %v, want the serviceAccountTokenInSecrets recommendation", w)
	}
	d.Spec.ServiceAccountTokenInSecrets = ptr.To(true)
	if w := strategy.WarningsOnCreate(context.Background(), d); len(w) != 0 {
		t.Errorf("warned with serviceAccountTokenInSecrets set: %v", w)
	}
	// An update that leaves tokenRequests alone does not repeat it.
	old := &storagev1.CSIDriver{Spec: storagev1.CSIDriverSpec{TokenRequests: []storagev1.TokenRequest{{Audience: "x"}}}}
	if w := strategy.WarningsOnUpdate(context.Background(), old.DeepCopy(), old); len(w) != 0 {
		t.Errorf("warned on an update without tokenRequests changes: %v", w)
	}
}
