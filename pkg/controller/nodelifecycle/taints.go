package nodelifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Taints the controller sets when a node's Ready condition is not True.
var (
	unreachableTaint = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyTaint    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps node conditions (and statuses) to the NoSchedule
// taint keys they imply.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady:              {corev1.ConditionFalse: corev1.TaintNodeNotReady, corev1.ConditionUnknown: corev1.TaintNodeUnreachable},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// conditionTaintKeys are the taint keys conditionTaints produces.
var conditionTaintKeys = map[string]bool{
	corev1.TaintNodeNotReady: true, corev1.TaintNodeUnreachable: true, corev1.TaintNodeNetworkUnavailable: true,
	corev1.TaintNodeMemoryPressure: true, corev1.TaintNodeDiskPressure: true, corev1.TaintNodePIDPressure: true,
}

func sameTaint(a, b *corev1.Taint) bool { return a.Key == b.Key && a.Effect == b.Effect }

func hasTaint(taints []corev1.Taint, t *corev1.Taint) bool {
	for i := range taints {
		if sameTaint(&taints[i], t) {
			return true
		}
	}
	return false
}

// swapTaints adds add (stamped with the time added) and removes remove on
// the node, re-reading it on conflicts. Nothing is written when the node
// already has exactly that.
func swapTaints(ctx context.Context, client kubernetes.Interface, nodeName string, add, remove []corev1.Taint) error {
	first := true
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		opts := metav1.GetOptions{}
		if first {
			opts.ResourceVersion = "0" // the API server's cache first, as upstream
			first = false
		}
		node, err := client.CoreV1().Nodes().Get(ctx, nodeName, opts)
		if err != nil {
			return err
		}
		var taints []corev1.Taint
		changed := false
		for _, t := range node.Spec.Taints {
			drop := false
			for i := range remove {
				if sameTaint(&t, &remove[i]) {
					drop = true
				}
			}
			for i := range add {
				if sameTaint(&t, &add[i]) && t.Value != add[i].Value {
					drop = true // replaced below
				}
			}
			if drop {
				changed = true
				continue
			}
			taints = append(taints, t)
		}
		now := metav1.Now()
		for _, t := range add {
			if hasTaint(taints, &t) {
				continue
			}
			t.TimeAdded = &now
			taints = append(taints, t)
			changed = true
		}
		if !changed {
			return nil
		}
		node = node.DeepCopy()
		node.Spec.Taints = taints
		if _, err := client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update taints of node %s: %w", nodeName, err)
		}
		return nil
	})
}
