// Package imagelocality prefers nodes that already have the pod's images.
package imagelocality

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/skiff-project/skiff/pkg/scheduler/cache"
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// Name of the plugin.
const Name = names.ImageLocality

// Thresholds of the image size sum, as upstream: below minThreshold a node
// scores 0; maxContainerThreshold per container scores 100.
const (
	mb                    int64 = 1024 * 1024
	minThreshold          int64 = 23 * mb
	maxContainerThreshold int64 = 1000 * mb
)

// ImageLocality is the plugin.
type ImageLocality struct {
	handle framework.Handle
}

var _ framework.ScorePlugin = &ImageLocality{}

// New returns the plugin.
func New(_ context.Context, _ runtime.Object, h framework.Handle) (framework.Plugin, error) {
	return &ImageLocality{handle: h}, nil
}

func (pl *ImageLocality) Name() string { return Name }

// Score sums the sizes of the pod's images present on the node, each
// scaled by the share of nodes that have it (to avoid piling pods onto the
// few nodes with a rare image).
func (pl *ImageLocality) Score(_ context.Context, _ *framework.CycleState, pod *v1.Pod, nodeInfo *framework.NodeInfo) (int64, *framework.Status) {
	nodes, err := pl.handle.SnapshotSharedLister().NodeInfos().List()
	if err != nil {
		return 0, framework.AsStatus(err)
	}
	sum, count := sumImageScores(nodeInfo, pod, len(nodes))
	return calculatePriority(sum, count), nil
}

func (pl *ImageLocality) ScoreExtensions() framework.ScoreExtensions { return nil }

func calculatePriority(sum int64, imageCount int) int64 {
	maxThreshold := maxContainerThreshold * int64(imageCount)
	if sum < minThreshold {
		sum = minThreshold
	} else if sum > maxThreshold {
		sum = maxThreshold
	}
	if maxThreshold == minThreshold {
		return 0
	}
	return framework.MaxNodeScore * (sum - minThreshold) / (maxThreshold - minThreshold)
}

func sumImageScores(nodeInfo *framework.NodeInfo, pod *v1.Pod, totalNodes int) (int64, int) {
	var sum int64
	if len(nodeInfo.ImageStates) == 0 {
		// Nothing to find: only the image count matters.
		count := len(pod.Spec.InitContainers) + len(pod.Spec.Containers)
		for _, v := range pod.Spec.Volumes {
			if v.Image != nil {
				count++
			}
		}
		return 0, count
	}
	score := func(image string) {
		if st, ok := nodeInfo.ImageStates[cache.NormalizedImageName(image)]; ok {
			sum += scaledImageScore(st, totalNodes)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		score(c.Image)
	}
	for _, c := range pod.Spec.Containers {
		score(c.Image)
	}
	count := len(pod.Spec.InitContainers) + len(pod.Spec.Containers)
	for _, v := range pod.Spec.Volumes {
		if v.Image == nil {
			continue
		}
		score(v.Image.Reference)
		count++
	}
	return sum, count
}

func scaledImageScore(st *framework.ImageStateSummary, totalNodes int) int64 {
	spread := float64(st.NumNodes) / float64(totalNodes)
	return int64(float64(st.Size) * spread)
}
