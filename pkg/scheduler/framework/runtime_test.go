package framework_test

import (
	"reflect"
	"testing"

	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/cache"
	"github.com/skiff-project/skiff/pkg/scheduler/config"
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins"
)

func TestDefaultProfile(t *testing.T) {
	cfg := config.Default()
	prof := &cfg.Profiles[0]
	fw, err := framework.NewFramework(t.Context(), plugins.NewInTreeRegistry(), prof, config.PluginArgs(prof), framework.Options{Snapshot: cache.NewEmptySnapshot()})
	if err != nil {
		t.Fatal(err)
	}
	got := fw.ListPlugins()
	want := map[string][]string{
		"PreEnqueue": {"SchedulingGates", "DynamicResources", "DefaultPreemption"},
		"QueueSort":  {"PrioritySort"},
		"PreFilter": {"NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeRestrictions", "NodeVolumeLimits", "VolumeBinding",
			"VolumeZone", "PodTopologySpread", "InterPodAffinity", "DynamicResources"},
		"Filter": {"NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeRestrictions",
			"NodeVolumeLimits", "VolumeBinding", "VolumeZone", "PodTopologySpread", "InterPodAffinity"},
		"PostFilter": {"DefaultPreemption"},
		"PreScore":   {"TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity", "NodeResourcesBalancedAllocation"},
		"Score": {"TaintToleration", "NodeAffinity", "NodeResourcesFit", "VolumeBinding", "PodTopologySpread", "InterPodAffinity",
			"NodeResourcesBalancedAllocation", "ImageLocality"},
		"Reserve": {"VolumeBinding"},
		"PreBind": {"VolumeBinding", "DynamicResources"},
		"Bind":    {"DefaultBinder"},
	}
	// NodeName's PreFilter comes first upstream too (MultiPoint order);
	// NodeDeclaredFeatures is appended last, as upstream's feature gate does.
	want["PreFilter"] = append(append([]string{"NodeName"}, want["PreFilter"]...), "NodeDeclaredFeatures")
	want["Filter"] = []string{"NodeName", "NodeUnschedulable", "TaintToleration", "NodeAffinity", "NodePorts", "NodeResourcesFit", "VolumeRestrictions",
		"NodeVolumeLimits", "VolumeBinding", "VolumeZone", "PodTopologySpread", "InterPodAffinity", "DynamicResources", "NodeDeclaredFeatures"}
	for point, names := range want {
		if !reflect.DeepEqual(got[point], names) {
			t.Errorf("%s = %v\n want %v", point, got[point], names)
		}
	}
	weights := map[string]int64{"TaintToleration": 3, "NodeAffinity": 2, "NodeResourcesFit": 1, "VolumeBinding": 1, "PodTopologySpread": 2,
		"InterPodAffinity": 2, "NodeResourcesBalancedAllocation": 1, "ImageLocality": 1}
	for name, w := range weights {
		if fw.ScoreWeight(name) != w {
			t.Errorf("weight of %s = %d, want %d", name, fw.ScoreWeight(name), w)
		}
	}
}

func TestExplicitExtensionPointsOverrideMultiPoint(t *testing.T) {
	cfg := config.Default()
	prof := &cfg.Profiles[0]
	w := int32(9)
	prof.Plugins.Score.Enabled = []configv1.Plugin{{Name: "ImageLocality", Weight: &w}}
	prof.Plugins.Filter.Disabled = []configv1.Plugin{{Name: "TaintToleration"}}
	fw, err := framework.NewFramework(t.Context(), plugins.NewInTreeRegistry(), prof, config.PluginArgs(prof), framework.Options{Snapshot: cache.NewEmptySnapshot()})
	if err != nil {
		t.Fatal(err)
	}
	if fw.ScoreWeight("ImageLocality") != 9 {
		t.Errorf("ImageLocality weight %d", fw.ScoreWeight("ImageLocality"))
	}
	if score := fw.ListPlugins()["Score"]; score[0] != "ImageLocality" {
		t.Errorf("explicitly configured plugins come first: %v", score)
	}
	for _, n := range fw.ListPlugins()["Filter"] {
		if n == "TaintToleration" {
			t.Error("disabled filter still runs")
		}
	}
}

func TestUnknownPlugin(t *testing.T) {
	cfg := config.Default()
	prof := &cfg.Profiles[0]
	prof.Plugins.Filter.Enabled = append(prof.Plugins.Filter.Enabled, configv1.Plugin{Name: "Nope"})
	if _, err := framework.NewFramework(t.Context(), plugins.NewInTreeRegistry(), prof, nil, framework.Options{Snapshot: cache.NewEmptySnapshot()}); err == nil {
		t.Error("unknown plugin accepted")
	}
}

func TestClusterEventMatch(t *testing.T) {
	for _, tc := range []struct {
		registered, incoming framework.ClusterEvent
		want                 bool
	}{
		{framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Update}, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeLabel}, true},
		{framework.ClusterEvent{Resource: framework.Node, ActionType: framework.UpdateNodeLabel}, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Update}, false},
		{framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.UpdatePodToleration}, framework.ClusterEvent{Resource: framework.TargetPod, ActionType: framework.Update}, false},
		{framework.ClusterEvent{Resource: framework.Pod, ActionType: framework.Delete}, framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Delete}, true},
		{framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, framework.ClusterEvent{Resource: framework.AssignedPod, ActionType: framework.Add}, false},
		{framework.ClusterEvent{Resource: framework.WildCard, ActionType: framework.All}, framework.ClusterEvent{Resource: framework.Node, ActionType: framework.Add}, true},
	} {
		if got := tc.registered.Match(tc.incoming); got != tc.want {
			t.Errorf("%s matches %s = %v, want %v", tc.registered.Label(), tc.incoming.Label(), got, tc.want)
		}
	}
}
