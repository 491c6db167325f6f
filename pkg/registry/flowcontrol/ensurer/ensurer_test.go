package ensurer

import (
	"context"
	"testing"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/flowcontrol/bootstrap"
	"k8s.io/client-go/kubernetes/fake"
)

// bootstrapFlowSchema returns the bootstrap FlowSchema called name.
func bootstrapFlowSchema(t *testing.T, name string) *flowcontrolv1.FlowSchema {
	t.Helper()
	for _, fs := range append(bootstrap.MandatoryFlowSchemas, bootstrap.SuggestedFlowSchemas...) {
		if fs.Name == name {
			return fs.DeepCopy()
		}
	}
	t.Fatalf("no bootstrap FlowSchema %q", name)
	return nil
}

// stored returns a copy of a bootstrap FlowSchema as it would be stored:
// with a generation, the given annotation value ("" for none) and a changed
// matching precedence when modified.
func stored(t *testing.T, name string, generation int64, annotation string, modified bool) *flowcontrolv1.FlowSchema {
	fs := bootstrapFlowSchema(t, name)
	fs.Generation = generation
	fs.Annotations = nil
	if annotation != "" {
		fs.Annotations = map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: annotation}
	}
	if modified {
		fs.Spec.MatchingPrecedence++
	}
	return fs
}

func TestEnsureWithFakeClientset(t *testing.T) {
	suggested := bootstrap.SuggestedFlowSchemas[0].Name
	mandatory := bootstrap.MandatoryFlowSchemas[0].Name

	tests := []struct {
		name           string
		existing       *flowcontrolv1.FlowSchema
		wantPrecedence func(boot *flowcontrolv1.FlowSchema) int32
		wantAnnotation string
	}{
		{
			name:           "missing suggested object is created",
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence },
			wantAnnotation: "true",
		},
		{
			name:           "suggested object with autoupdate-spec=true is updated",
			existing:       stored(t, suggested, 5, "true", true),
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence },
			wantAnnotation: "true",
		},
		{
			name:           "suggested object without annotation at generation 1 is updated",
			existing:       stored(t, suggested, 1, "", true),
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence },
			wantAnnotation: "true",
		},
		{
			name:           "suggested object with autoupdate-spec=false keeps the user's spec",
			existing:       stored(t, suggested, 5, "false", true),
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence + 1 },
			wantAnnotation: "false",
		},
		{
			name:           "user-modified suggested object without annotation is kept and marked false",
			existing:       stored(t, suggested, 2, "", true),
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence + 1 },
			wantAnnotation: "false",
		},
		{
			name:           "mandatory object is restored even with autoupdate-spec=false",
			existing:       stored(t, mandatory, 5, "false", true),
			wantPrecedence: func(b *flowcontrolv1.FlowSchema) int32 { return b.Spec.MatchingPrecedence },
			wantAnnotation: "true",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := suggested
			var objects []runtime.Object
			if tc.existing != nil {
				name = tc.existing.Name
				objects = append(objects, tc.existing)
			}
			client := fake.NewClientset(objects...)
			if err := Ensure(context.Background(), client.FlowcontrolV1()); err != nil {
				t.Fatalf("Ensure: %v", err)
			}
			got, err := client.FlowcontrolV1().FlowSchemas().Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("get %s: %v", name, err)
			}
			if want := tc.wantPrecedence(bootstrapFlowSchema(t, name)); got.Spec.MatchingPrecedence != want {
				t.Errorf("matchingPrecedence = %d, want %d", got.Spec.MatchingPrecedence, want)
			}
			if a := got.Annotations[flowcontrolv1.AutoUpdateAnnotationKey]; a != tc.wantAnnotation {
				t.Errorf("annotation = %q, want %q", a, tc.wantAnnotation)
			}
		})
	}
}

func TestEnsureCreatesWholeBootstrapSet(t *testing.T) {
	client := fake.NewClientset()
	if err := Ensure(context.Background(), client.FlowcontrolV1()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	schemas, err := client.FlowcontrolV1().FlowSchemas().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	levels, err := client.FlowcontrolV1().PriorityLevelConfigurations().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(bootstrap.MandatoryFlowSchemas) + len(bootstrap.SuggestedFlowSchemas); len(schemas.Items) != want {
		t.Errorf("%d flow schemas, want %d", len(schemas.Items), want)
	}
	if want := len(bootstrap.MandatoryPriorityLevelConfigurations) + len(bootstrap.SuggestedPriorityLevelConfigurations); len(levels.Items) != want {
		t.Errorf("%d priority levels, want %d", len(levels.Items), want)
	}
	for _, fs := range schemas.Items {
		if fs.Annotations[flowcontrolv1.AutoUpdateAnnotationKey] != "true" {
			t.Errorf("%s: annotation %q", fs.Name, fs.Annotations[flowcontrolv1.AutoUpdateAnnotationKey])
		}
	}

	// A second run against an unchanged cluster writes nothing.
	client.ClearActions()
	if err := Ensure(context.Background(), client.FlowcontrolV1()); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	for _, a := range client.Actions() {
		if verb := a.GetVerb(); verb != "get" && verb != "list" {
			t.Errorf("second run wrote: %s %s", verb, a.GetResource().Resource)
		}
	}
}

func TestEnsureRemovesOnlyAutoUpdatedLeftovers(t *testing.T) {
	leftover := func(name, annotation string) *flowcontrolv1.FlowSchema {
		fs := &flowcontrolv1.FlowSchema{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: flowcontrolv1.FlowSchemaSpec{
				PriorityLevelConfiguration: flowcontrolv1.PriorityLevelConfigurationReference{Name: "global-default"},
				MatchingPrecedence:         5000,
			},
		}
		if annotation != "" {
			fs.Annotations = map[string]string{flowcontrolv1.AutoUpdateAnnotationKey: annotation}
		}
		return fs
	}
	client := fake.NewClientset(
		leftover("old-bootstrap", "true"),
		leftover("users-own", ""),
		leftover("users-pinned", "false"),
		leftover("garbled", "maybe"),
	)
	if err := Ensure(context.Background(), client.FlowcontrolV1()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	for name, wantGone := range map[string]bool{"old-bootstrap": true, "users-own": false, "users-pinned": false, "garbled": false} {
		_, err := client.FlowcontrolV1().FlowSchemas().Get(context.Background(), name, metav1.GetOptions{})
		if gone := apierrors.IsNotFound(err); gone != wantGone {
			t.Errorf("%s: deleted=%v, want %v (err %v)", name, gone, wantGone, err)
		}
	}
}

func TestExemptPriorityLevelTuningIsKept(t *testing.T) {
	var exempt *flowcontrolv1.PriorityLevelConfiguration
	for _, pl := range bootstrap.MandatoryPriorityLevelConfigurations {
		if pl.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt {
			exempt = pl.DeepCopy()
		}
	}
	if exempt == nil {
		t.Fatal("no bootstrap exempt priority level")
	}
	shares := int32(42)
	exempt.Spec.Exempt.NominalConcurrencyShares = &shares
	exempt.Generation = 3
	client := fake.NewClientset(exempt)
	if err := Ensure(context.Background(), client.FlowcontrolV1()); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	got, err := client.FlowcontrolV1().PriorityLevelConfigurations().Get(context.Background(), exempt.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Exempt == nil || got.Spec.Exempt.NominalConcurrencyShares == nil || *got.Spec.Exempt.NominalConcurrencyShares != 42 {
		t.Errorf("exempt tuning overwritten: %+v", got.Spec.Exempt)
	}
}
