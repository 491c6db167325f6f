// Package queuesort orders the active queue by priority, then arrival.
package queuesort

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.PrioritySort

// PrioritySort is the plugin.
type PrioritySort struct{}

var _ framework.QueueSortPlugin = &PrioritySort{}

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, _ framework.Handle) (framework.Plugin, error) {
	return &PrioritySort{}, nil
}

func (pl *PrioritySort) Name() string { return Name }

// Less puts higher priority first, then the earlier-queued pod.
func (pl *PrioritySort) Less(a, b *framework.QueuedPodInfo) bool {
	p1, p2 := corev1helpers.PodPriority(a.Pod), corev1helpers.PodPriority(b.Pod)
	return p1 > p2 || (p1 == p2 && a.Timestamp.Before(b.Timestamp))
}
