package secret

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestUpdateKeepsTypeAndImmutability(t *testing.T) {
	old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", ResourceVersion: "1"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": []byte("b")}, Immutable: ptr.To(true)}

	noType := old.DeepCopy()
	noType.Type = ""
	strategy.PrepareForUpdate(context.Background(), noType, old)
	if noType.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want it kept", noType.Type)
	}

	changed := old.DeepCopy()
	changed.Data["a"] = []byte("c")
	errs := strategy.ValidateUpdate(context.Background(), changed, old)
	if errs.ToAggregate() == nil || !strings.Contains(errs.ToAggregate().Error(), "data: Forbidden: field is immutable when `immutable` is set") {
		t.Errorf("errors = %v", errs)
	}
}

func TestTLSWarning(t *testing.T) {
	s := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("x"), corev1.TLSPrivateKeyKey: []byte("y")}}
	if w := strategy.WarningsOnCreate(context.Background(), s); len(w) != 1 || !strings.Contains(w[0], "failed to find any PEM data") {
		t.Errorf("warnings = %q", w)
	}
	s.Type = corev1.SecretTypeOpaque
	if w := strategy.WarningsOnCreate(context.Background(), s); len(w) != 0 {
		t.Errorf("warnings for an opaque secret = %q", w)
	}
}

func TestSelectableType(t *testing.T) {
	_, set, err := getAttrs(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"}, Type: corev1.SecretTypeTLS})
	if err != nil {
		t.Fatal(err)
	}
	if set["type"] != string(corev1.SecretTypeTLS) || set["metadata.name"] != "s" {
		t.Errorf("fields = %v", set)
	}
}

func TestStringDataIsFoldedIntoData(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("kept")}, StringData: map[string]string{"a": "new", "c": "added"}}
	strategy.PrepareForCreate(context.Background(), s)
	if string(s.Data["a"]) != "new" || string(s.Data["b"]) != "kept" || string(s.Data["c"]) != "added" || s.StringData != nil {
		t.Errorf("after create: data=%q stringData=%v", s.Data, s.StringData)
	}
	updated := &corev1.Secret{StringData: map[string]string{"x": "y"}}
	strategy.PrepareForUpdate(context.Background(), updated, s)
	if string(updated.Data["x"]) != "y" || updated.StringData != nil {
		t.Errorf("after update: data=%q stringData=%v", updated.Data, updated.StringData)
	}
}
