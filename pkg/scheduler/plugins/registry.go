// Package plugins assembles skiff's in-tree scheduler plugins; each lives
// in its own package below.
package plugins

import (
	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/defaultbinder"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/defaultpreemption"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/dynamicresources"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/imagelocality"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/interpodaffinity"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodeaffinity"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodedeclaredfeatures"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodename"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodeports"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/noderesources"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodeunschedulable"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/nodevolumelimits"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/podtopologyspread"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/queuesort"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/schedulinggates"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/tainttoleration"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/volumebinding"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/volumerestrictions"
	"github.com/skiff-project/skiff/pkg/scheduler/plugins/volumezone"
)

// NewInTreeRegistry returns every in-tree plugin by name.
func NewInTreeRegistry() framework.Registry {
	return framework.Registry{
		names.SchedulingGates:                 schedulinggates.New,
		names.PrioritySort:                    queuesort.New,
		names.NodeName:                        nodename.New,
		names.NodeUnschedulable:               nodeunschedulable.New,
		names.TaintToleration:                 tainttoleration.New,
		names.NodeAffinity:                    nodeaffinity.New,
		names.NodePorts:                       nodeports.New,
		names.NodeResourcesFit:                noderesources.NewFit,
		names.NodeResourcesBalancedAllocation: noderesources.NewBalancedAllocation,
		names.VolumeRestrictions:              volumerestrictions.New,
		names.NodeVolumeLimits:                nodevolumelimits.New,
		names.VolumeBinding:                   volumebinding.New,
		names.VolumeZone:                      volumezone.New,
		names.PodTopologySpread:               podtopologyspread.New,
		names.InterPodAffinity:                interpodaffinity.New,
		names.DefaultPreemption:               defaultpreemption.New,
		names.DynamicResources:                dynamicresources.New,
		names.ImageLocality:                   imagelocality.New,
		names.DefaultBinder:                   defaultbinder.New,
		names.NodeDeclaredFeatures:            nodedeclaredfeatures.New,
	}
}
