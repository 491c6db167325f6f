package priorityclass

import (
	"context"
	"strings"
	"testing"

	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
)

func TestSystemPriorityClasses(t *testing.T) {
	want := map[string]struct {
		value       int32
		description string
	}{
		"system-node-critical":    {2000001000, "Used for system critical pods that must not be moved from their current node."},
		"system-cluster-critical": {2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	}
	got := SystemPriorityClasses()
	if len(got) != len(want) {
		t.Fatalf("got %d system priority classes, want %d", len(got), len(want))
	}
	for _, pc := range got {
		w, ok := want[pc.Name]
		if !ok {
			t.Errorf("unexpected system priority class %q", pc.Name)
			continue
		}
		if pc.Value != w.value || pc.Description != w.description || pc.GlobalDefault {
			t.Errorf("%s: got value %d, description %q, globalDefault %v; want %d, %q, false", pc.Name, pc.Value, pc.Description, pc.GlobalDefault, w.value, w.description)
		}
		if errs := strategy.Validate(context.Background(), pc); len(errs) != 0 {
			t.Errorf("%s does not pass validation: %v", pc.Name, errs)
		}
	}
	// Callers get copies: changing one must not change the next call's.
	got[0].Value = 1
	if SystemPriorityClasses()[0].Value == 1 {
		t.Error("SystemPriorityClasses returns shared objects")
	}
}

func TestValidateSystemPrefix(t *testing.T) {
	tests := []struct {
		name          string
		pc            schedulingv1.PriorityClass
		wantErr       string // substring of the single expected error; empty for none
		wantErrorPath string
	}{
		{
			name: "user class",
			pc:   schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
		},
		{
			name: "user class at the highest user value",
			pc:   schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "top"}, Value: 1000000000},
		},
		{
			name:          "user class above the highest user value",
			pc:            schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Value: 1000000001},
			wantErr:       "maximum allowed value of a user defined priority is 1000000000",
			wantErrorPath: "value",
		},
		{
			name:          "unknown system name",
			pc:            schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-foo"}, Value: 10},
			wantErr:       "system-foo is not a known system priority class",
			wantErrorPath: "metadata.name",
		},
		{
			name:          "built-in name with another value",
			pc:            schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 10},
			wantErr:       "value of system-node-critical PriorityClass must be 2000001000",
			wantErrorPath: "metadata.name",
		},
		{
			name:          "built-in name as global default",
			pc:            schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000, GlobalDefault: true},
			wantErr:       "globalDefault of system-cluster-critical PriorityClass must be false",
			wantErrorPath: "metadata.name",
		},
		{
			name: "built-in name with its value",
			pc:   schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := strategy.Validate(context.Background(), &tc.pc)
			if tc.wantErr == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if len(errs) != 1 {
				t.Fatalf("got errors %v, want one containing %q", errs, tc.wantErr)
			}
			if errs[0].Field != tc.wantErrorPath || !strings.Contains(errs[0].Error(), tc.wantErr) {
				t.Errorf("got %q at %s, want %q at %s", errs[0].Error(), errs[0].Field, tc.wantErr, tc.wantErrorPath)
			}
		})
	}
}

func TestValueIsImmutable(t *testing.T) {
	old := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", ResourceVersion: "1"}, Value: 1000}
	changed := old.DeepCopy()
	changed.Value = 5
	errs := strategy.ValidateUpdate(context.Background(), changed, old)
	if len(errs) != 1 || errs[0].Field != "value" {
		t.Fatalf("got %v, want one error on value", errs)
	}
	described := old.DeepCopy()
	described.Description = "now described"
	if errs := strategy.ValidateUpdate(context.Background(), described, old); len(errs) != 0 {
		t.Fatalf("description change rejected: %v", errs)
	}
}

func TestPrepareForCreateSetsGeneration(t *testing.T) {
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high", Generation: 7}}
	strategy.PrepareForCreate(context.Background(), pc)
	if pc.Generation != 1 {
		t.Errorf("generation %d, want 1", pc.Generation)
	}
}

func TestDeleteRefusesSystemClasses(t *testing.T) {
	// The refusal comes before any storage access, so an empty store is
	// enough to show that the built-in classes never reach it.
	r := &REST{Store: &genericregistry.Store{}}
	for _, name := range []string{"system-node-critical", "system-cluster-critical"} {
		_, _, err := r.Delete(context.Background(), name, nil, &metav1.DeleteOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("delete %s: got %v, want Forbidden", name, err)
		}
		want := `priorityclasses.scheduling.k8s.io "` + name + `" is forbidden: this is a system priority class and cannot be deleted`
		if err.Error() != want {
			t.Errorf("delete %s: got %q, want %q", name, err.Error(), want)
		}
	}
}
