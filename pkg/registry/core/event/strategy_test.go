package event

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
)

func TestSelectableFields(t *testing.T) {
	e := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "ns", UID: "u1", FieldPath: "spec.containers{c}"},
		Reason:              "Pulled",
		Type:                corev1.EventTypeNormal,
		ReportingController: "kubelet",
	}
	set := selectableFields(e)
	for selector, match := range map[string]bool{
		"involvedObject.kind=Pod":                     true,
		"involvedObject.name=p,involvedObject.uid=u1": true,
		"involvedObject.fieldPath=spec.containers{c}": true,
		"reason=Pulled":                               true,
		"reason=Failed":                               false,
		"type=Normal":                                 true,
		"reportingComponent=kubelet":                  true,
		// Without source.component, source falls back to the reporting controller.
		"source=kubelet":        true,
		"metadata.namespace=ns": true,
	} {
		sel, err := fields.ParseSelector(selector)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.Matches(set); got != match {
			t.Errorf("%s matches = %v, want %v", selector, got, match)
		}
	}
}

func TestValidateDependsOnAPIVersion(t *testing.T) {
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: "e", Namespace: "ns"},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p", Namespace: "other"},
	}
	ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{APIVersion: "v1", Resource: "events"})
	errs := strategy.Validate(ctx, e)
	if len(errs) != 1 || errs[0].Field != "involvedObject.namespace" {
		t.Errorf("errors = %v, want one about involvedObject.namespace", errs)
	}
}
