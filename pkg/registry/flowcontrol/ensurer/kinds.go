package ensurer

import (
	"context"

	flowcontrolv1 "k8s.io/api/flowcontrol/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	flowcontrolclient "k8s.io/client-go/kubernetes/typed/flowcontrol/v1"
	kflowcontrolv1 "k8s.io/kubernetes/pkg/apis/flowcontrol/v1"
)

func flowSchemaOps(c flowcontrolclient.FlowSchemaInterface) kindOps[*flowcontrolv1.FlowSchema] {
	return kindOps[*flowcontrolv1.FlowSchema]{
		kind: "FlowSchema",
		get: func(ctx context.Context, name string) (*flowcontrolv1.FlowSchema, error) {
			return c.Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context) ([]*flowcontrolv1.FlowSchema, error) {
			l, err := c.List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := make([]*flowcontrolv1.FlowSchema, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out, nil
		},
		create: func(ctx context.Context, obj *flowcontrolv1.FlowSchema) error {
			_, err := c.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
			return err
		},
		update: func(ctx context.Context, obj *flowcontrolv1.FlowSchema) error {
			_, err := c.Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
			return err
		},
		delete: func(ctx context.Context, name string) error {
			return c.Delete(ctx, name, metav1.DeleteOptions{})
		},
		specMatches: func(boot, current *flowcontrolv1.FlowSchema) bool {
			want := boot.Spec.DeepCopy()
			kflowcontrolv1.SetDefaults_FlowSchemaSpec(want)
			return equality.Semantic.DeepEqual(want, &current.Spec)
		},
		withSpec: func(current, boot *flowcontrolv1.FlowSchema) *flowcontrolv1.FlowSchema {
			out := current.DeepCopy()
			out.Spec = *boot.Spec.DeepCopy()
			return out
		},
		deepCopy: (*flowcontrolv1.FlowSchema).DeepCopy,
	}
}

func priorityLevelOps(c flowcontrolclient.PriorityLevelConfigurationInterface) kindOps[*flowcontrolv1.PriorityLevelConfiguration] {
	return kindOps[*flowcontrolv1.PriorityLevelConfiguration]{
		kind: "PriorityLevelConfiguration",
		get: func(ctx context.Context, name string) (*flowcontrolv1.PriorityLevelConfiguration, error) {
			return c.Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context) ([]*flowcontrolv1.PriorityLevelConfiguration, error) {
			l, err := c.List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			out := make([]*flowcontrolv1.PriorityLevelConfiguration, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out, nil
		},
		create: func(ctx context.Context, obj *flowcontrolv1.PriorityLevelConfiguration) error {
			_, err := c.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
			return err
		},
		update: func(ctx context.Context, obj *flowcontrolv1.PriorityLevelConfiguration) error {
			_, err := c.Update(ctx, obj, metav1.UpdateOptions{FieldManager: FieldManager})
			return err
		},
		delete: func(ctx context.Context, name string) error {
			return c.Delete(ctx, name, metav1.DeleteOptions{})
		},
		specMatches: priorityLevelSpecMatches,
		withSpec: func(current, boot *flowcontrolv1.PriorityLevelConfiguration) *flowcontrolv1.PriorityLevelConfiguration {
			out := current.DeepCopy()
			out.Spec = *boot.Spec.DeepCopy()
			return out
		},
		deepCopy: (*flowcontrolv1.PriorityLevelConfiguration).DeepCopy,
	}
}

// priorityLevelSpecMatches compares after defaulting. The exempt level's
// nominalConcurrencyShares and lendablePercent are the operator's to tune,
// so they never count as a difference.
func priorityLevelSpecMatches(boot, current *flowcontrolv1.PriorityLevelConfiguration) bool {
	want := boot.DeepCopy()
	kflowcontrolv1.SetObjectDefaults_PriorityLevelConfiguration(want)
	if boot.Name == flowcontrolv1.PriorityLevelConfigurationNameExempt {
		if current.Spec.Exempt == nil {
			return false
		}
		want.Spec.Exempt.NominalConcurrencyShares = current.Spec.Exempt.NominalConcurrencyShares
		want.Spec.Exempt.LendablePercent = current.Spec.Exempt.LendablePercent
	}
	return equality.Semantic.DeepEqual(want.Spec, current.Spec)
}
