package podtemplate

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func template() *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}},
		Spec: corev1.PodSpec{
			ServiceAccountName:       "builder",
			DeprecatedServiceAccount: "builder",
			Containers:               []corev1.Container{{Name: "c", Image: "nginx"}},
		},
	}
}

func TestDropDisabledFieldsKeepsEnabledFields(t *testing.T) {
	tmpl := template()
	DropDisabledFields(tmpl, nil)
	if tmpl.Labels["app"] != "a" || tmpl.Spec.ServiceAccountName != "builder" || tmpl.Spec.DeprecatedServiceAccount != "builder" || tmpl.Spec.Containers[0].Image != "nginx" {
		t.Errorf("template changed: %+v", tmpl)
	}
}

func TestWarnings(t *testing.T) {
	tmpl := template()
	tmpl.Annotations = map[string]string{"scheduler.alpha.kubernetes.io/critical-pod": ""}
	warnings := Warnings(context.Background(), field.NewPath("spec", "template"), tmpl, nil)
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "spec.template.metadata.annotations[scheduler.alpha.kubernetes.io/critical-pod]: non-functional") {
		t.Errorf("warnings = %v", warnings)
	}
}
