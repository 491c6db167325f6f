package scale

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// deploymentReplicas is a test accessor for apps/v1 Deployments.
type deploymentReplicas struct{}

func (deploymentReplicas) Replicas(obj runtime.Object) (Replicas, error) {
	d := obj.(*appsv1.Deployment)
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return Replicas{}, err
	}
	return Replicas{Desired: ptr.Deref(d.Spec.Replicas, 0), Current: d.Status.Replicas, Selector: selector.String()}, nil
}

func (deploymentReplicas) SetReplicas(obj runtime.Object, replicas int32) {
	obj.(*appsv1.Deployment).Spec.Replicas = &replicas
}

func newREST() *REST {
	store := &genericregistry.Store{DefaultQualifiedResource: appsv1.Resource("deployments")}
	return NewREST(store, managedfields.ResourcePathMappings{
		"apps/v1": fieldpath.MakePathOrDie("spec", "replicas"),
	}, deploymentReplicas{})
}

func scaleContext() context.Context {
	ctx := genericapirequest.WithNamespace(context.Background(), "default")
	return genericapirequest.WithRequestInfo(ctx, &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "apps", APIVersion: "v1", Resource: "deployments", Subresource: "scale",
	})
}

func fields(json string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(json)} }

func newDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name: "d", Namespace: "default", UID: "uid-1", ResourceVersion: "10",
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "apps/v1",
				FieldsType: "FieldsV1", FieldsV1: fields(`{"f:spec":{"f:replicas":{},"f:selector":{}}}`),
			}},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{
				MatchLabels:      map[string]string{"app": "d"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}},
			},
		},
		Status: appsv1.DeploymentStatus{Replicas: 1},
	}
}

func TestScaleOf(t *testing.T) {
	s, err := newREST().scaleOf(newDeployment())
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "d" || s.Namespace != "default" || s.UID != "uid-1" || s.ResourceVersion != "10" {
		t.Errorf("metadata = %+v", s.ObjectMeta)
	}
	if s.Spec.Replicas != 2 || s.Status.Replicas != 1 || s.Status.Selector != "app=d,tier in (web)" {
		t.Errorf("scale = %+v %+v", s.Spec, s.Status)
	}
	if len(s.ManagedFields) != 0 {
		t.Errorf("a read Scale carries no managed fields, got %v", s.ManagedFields)
	}
	if gvk := newREST().GroupVersionKind(appsv1.SchemeGroupVersion); gvk != autoscalingv1.SchemeGroupVersion.WithKind("Scale") {
		t.Errorf("kind = %v", gvk)
	}
}

func TestUpdatedObjectMovesReplicasAndOwnership(t *testing.T) {
	r := newREST()
	parent := newDeployment()
	newScale := &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: "d", Namespace: "default", ResourceVersion: "10",
			ManagedFields: []metav1.ManagedFieldsEntry{{
				Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "autoscaling/v1",
				Subresource: "scale", FieldsType: "FieldsV1", FieldsV1: fields(`{"f:spec":{"f:replicas":{}}}`),
			}},
		},
		Spec: autoscalingv1.ScaleSpec{Replicas: 5},
	}
	info := &updatedParentInfo{name: "d", scaleInfo: rest.DefaultUpdatedObjectInfo(newScale), rest: r}

	obj, err := info.UpdatedObject(scaleContext(), parent)
	if err != nil {
		t.Fatal(err)
	}
	d := obj.(*appsv1.Deployment)
	if *d.Spec.Replicas != 5 {
		t.Errorf("replicas = %d, want 5", *d.Spec.Replicas)
	}
	if *parent.Spec.Replicas != 2 {
		t.Errorf("the stored object was modified")
	}
	owners := map[string]string{}
	for _, e := range d.ManagedFields {
		owners[e.Manager+"/"+e.Subresource] = e.APIVersion + " " + string(e.FieldsV1.Raw)
	}
	if got := owners["kubectl/scale"]; got != `apps/v1 {"f:spec":{"f:replicas":{}}}` {
		t.Errorf("scale manager entry = %q; entries %v", got, owners)
	}
	if got := owners["kubectl-create/"]; strings.Contains(got, "f:replicas") || !strings.Contains(got, "f:selector") {
		t.Errorf("creator should keep the selector and lose the replicas: %q", got)
	}
}

func TestUpdatedObjectErrors(t *testing.T) {
	tests := []struct {
		name   string
		parent func(*appsv1.Deployment)
		scale  func(*autoscalingv1.Scale)
		check  func(error) bool
		want   string
	}{
		{"negative replicas", nil, func(s *autoscalingv1.Scale) { s.Spec.Replicas = -1 }, apierrors.IsInvalid,
			`Scale.autoscaling "d" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0`},
		{"other UID", nil, func(s *autoscalingv1.Scale) { s.UID = "uid-2" }, apierrors.IsConflict,
			"Precondition failed: UID in precondition: uid-2, UID in object meta: uid-1"},
		{"missing parent", func(d *appsv1.Deployment) { d.ResourceVersion = "" }, nil, apierrors.IsNotFound,
			`deployments/scale.apps "d" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent := newDeployment()
			if tc.parent != nil {
				tc.parent(parent)
			}
			s, err := newREST().scaleOf(parent)
			if err != nil {
				t.Fatal(err)
			}
			if tc.scale != nil {
				tc.scale(s)
			}
			info := &updatedParentInfo{name: "d", scaleInfo: rest.DefaultUpdatedObjectInfo(s), rest: newREST()}
			_, err = info.UpdatedObject(scaleContext(), parent)
			if err == nil || !tc.check(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestUpdatedObjectRejectsUnservedVersion(t *testing.T) {
	ctx := genericapirequest.WithRequestInfo(context.Background(), &genericapirequest.RequestInfo{
		IsResourceRequest: true, APIGroup: "apps", APIVersion: "v1beta9", Resource: "deployments", Subresource: "scale",
	})
	parent := newDeployment()
	s, _ := newREST().scaleOf(parent)
	info := &updatedParentInfo{name: "d", scaleInfo: rest.DefaultUpdatedObjectInfo(s), rest: newREST()}
	if _, err := info.UpdatedObject(ctx, parent); !apierrors.IsBadRequest(err) {
		t.Errorf("error = %v, want a bad request", fmt.Sprint(err))
	}
}
