package devicetaintrule

import (
	"context"
	"testing"
	"time"

	resourcev1 "k8s.io/api/resource/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestUpdateRestampsChangedEffect(t *testing.T) {
	added := metav1.NewTime(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	now := time.Date(2025, 6, 1, 12, 0, 0, 500, time.UTC)
	s := taintRuleStrategy{Strategy: strategy.Strategy, now: func() time.Time { return now }}
	rule := func(effect resourcev1.DeviceTaintEffect, timeAdded *metav1.Time) *resourcev1.DeviceTaintRule {
		return &resourcev1.DeviceTaintRule{
			ObjectMeta: metav1.ObjectMeta{Name: "r", Generation: 1},
			Spec: resourcev1.DeviceTaintRuleSpec{Taint: resourcev1.DeviceTaint{
				Key: "example.com/broken", Effect: effect, TimeAdded: timeAdded,
			}},
			Status: resourcev1.DeviceTaintRuleStatus{Conditions: []metav1.Condition{{Type: "EvictionInProgress"}}},
		}
	}
	explicit := metav1.NewTime(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	tests := []struct {
		name           string
		updated        *resourcev1.DeviceTaintRule
		wantTime       time.Time
		wantGeneration int64
	}{
		{"effect changed, time kept: restamped", rule(resourcev1.DeviceTaintEffectNoExecute, &added), now.Truncate(time.Second), 2},
		{"effect changed, time given: kept", rule(resourcev1.DeviceTaintEffectNoExecute, &explicit), explicit.Time, 2},
		{"nothing changed", rule(resourcev1.DeviceTaintEffectNoSchedule, &added), added.Time, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old := rule(resourcev1.DeviceTaintEffectNoSchedule, &added)
			tc.updated.Status = resourcev1.DeviceTaintRuleStatus{}
			s.PrepareForUpdate(context.Background(), tc.updated, old)
			if got := tc.updated.Spec.Taint.TimeAdded.Time; !got.Equal(tc.wantTime) {
				t.Errorf("timeAdded = %v, want %v", got, tc.wantTime)
			}
			if tc.updated.Generation != tc.wantGeneration {
				t.Errorf("generation = %d, want %d", tc.updated.Generation, tc.wantGeneration)
			}
			if len(tc.updated.Status.Conditions) != 1 {
				t.Errorf("status not kept from the stored rule")
			}
		})
	}
}
