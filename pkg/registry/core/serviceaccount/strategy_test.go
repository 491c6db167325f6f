package serviceaccount

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSecretReferencesKeepOnlyNames(t *testing.T) {
	sa := &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "sa", Namespace: "ns"},
		Secrets:    []corev1.ObjectReference{{Name: "s", Namespace: "other", UID: "1", Kind: "Secret"}},
	}
	strategy.PrepareForCreate(context.Background(), sa)
	if want := []corev1.ObjectReference{{Name: "s"}}; !reflect.DeepEqual(sa.Secrets, want) {
		t.Errorf("secrets = %+v, want %+v", sa.Secrets, want)
	}
}

func TestEnforceMountableSecretsWarning(t *testing.T) {
	plain := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa"}}
	annotated := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "sa", Annotations: map[string]string{enforceMountableSecretsAnnotation: "true"}}}
	if w := strategy.WarningsOnCreate(context.Background(), annotated); len(w) != 1 {
		t.Errorf("create with the annotation: warnings %q", w)
	}
	if w := strategy.WarningsOnUpdate(context.Background(), annotated, plain); len(w) != 1 {
		t.Errorf("adding the annotation: warnings %q", w)
	}
	if w := strategy.WarningsOnUpdate(context.Background(), annotated, annotated); len(w) != 0 {
		t.Errorf("keeping the annotation: warnings %q", w)
	}
}
