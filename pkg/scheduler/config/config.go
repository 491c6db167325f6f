// Package config loads the scheduler's configuration file, in upstream's
// KubeSchedulerConfiguration (kubescheduler.config.k8s.io/v1) format, and
// applies upstream's defaults: the default plugin set and weights, merged
// with the file's enabled and disabled plugins, and each plugin's args.
package config

import (
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	componentbaseconfigv1alpha1 "k8s.io/component-base/config/v1alpha1"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/plugins/names"
)

// DefaultPercentageOfNodesToScore is 0: adaptive (50% minus 1% per 125
// nodes, at least 5%).
const DefaultPercentageOfNodesToScore = 0

var scheme = runtime.NewScheme()

func init() {
	if err := configv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
}

// Load reads a KubeSchedulerConfiguration file and defaults it.
func Load(path string) (*configv1.KubeSchedulerConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scheduler config %s: %w", path, err)
	}
	return Decode(data)
}

// Decode parses a KubeSchedulerConfiguration (YAML or JSON) and defaults it.
func Decode(data []byte) (*configv1.KubeSchedulerConfiguration, error) {
	codecs := serializer.NewCodecFactory(scheme, serializer.EnableStrict)
	obj, gvk, err := codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode scheduler config: %w", err)
	}
	cfg, ok := obj.(*configv1.KubeSchedulerConfiguration)
	if !ok {
		return nil, fmt.Errorf("scheduler config has kind %s, want KubeSchedulerConfiguration", gvk)
	}
	if err := cfg.DecodeNestedObjects(codecs.UniversalDeserializer()); err != nil {
		return nil, fmt.Errorf("decode scheduler config plugin args: %w", err)
	}
	SetDefaults(cfg)
	if errs := Validate(cfg); len(errs) > 0 {
		return nil, fmt.Errorf("invalid scheduler config: %v", errs)
	}
	return cfg, nil
}

// Default returns the defaulted configuration of a scheduler with no file.
func Default() *configv1.KubeSchedulerConfiguration {
	cfg := &configv1.KubeSchedulerConfiguration{}
	SetDefaults(cfg)
	return cfg
}

var defaultResourceSpec = []configv1.ResourceSpec{
	{Name: string(v1.ResourceCPU), Weight: 1},
	{Name: string(v1.ResourceMemory), Weight: 1},
}

// DefaultPlugins is upstream v1.37's default plugin set (MultiPoint) with
// its default feature gates (NodeDeclaredFeatures and DynamicResources on).
func DefaultPlugins() *configv1.Plugins {
	return &configv1.Plugins{MultiPoint: configv1.PluginSet{Enabled: []configv1.Plugin{
		{Name: names.SchedulingGates},
		{Name: names.PrioritySort},
		{Name: names.NodeName},
		{Name: names.NodeUnschedulable},
		{Name: names.TaintToleration, Weight: ptr.To[int32](3)},
		{Name: names.NodeAffinity, Weight: ptr.To[int32](2)},
		{Name: names.NodePorts},
		{Name: names.NodeResourcesFit, Weight: ptr.To[int32](1)},
		{Name: names.VolumeRestrictions},
		{Name: names.NodeVolumeLimits},
		{Name: names.VolumeBinding},
		{Name: names.VolumeZone},
		{Name: names.PodTopologySpread, Weight: ptr.To[int32](2)},
		{Name: names.InterPodAffinity, Weight: ptr.To[int32](2)},
		// Before DefaultPreemption, where upstream's feature gate puts it.
		{Name: names.DynamicResources, Weight: ptr.To[int32](2)},
		{Name: names.DefaultPreemption},
		{Name: names.NodeResourcesBalancedAllocation, Weight: ptr.To[int32](1)},
		{Name: names.ImageLocality, Weight: ptr.To[int32](1)},
		{Name: names.DefaultBinder},
		// Appended as upstream does for its (GA) feature gate.
		{Name: names.NodeDeclaredFeatures},
	}}}
}

// SetDefaults applies upstream's defaults to cfg.
func SetDefaults(cfg *configv1.KubeSchedulerConfiguration) {
	if cfg.Parallelism == nil {
		cfg.Parallelism = ptr.To[int32](16)
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = append(cfg.Profiles, configv1.KubeSchedulerProfile{})
	}
	if len(cfg.Profiles) == 1 && cfg.Profiles[0].SchedulerName == nil {
		cfg.Profiles[0].SchedulerName = ptr.To(v1.DefaultSchedulerName)
	}
	for i := range cfg.Profiles {
		setProfileDefaults(&cfg.Profiles[i])
	}
	if cfg.PercentageOfNodesToScore == nil {
		cfg.PercentageOfNodesToScore = ptr.To[int32](DefaultPercentageOfNodesToScore)
	}
	le := &cfg.LeaderElection
	if le.ResourceLock == "" {
		le.ResourceLock = "leases"
	}
	if le.ResourceNamespace == "" {
		le.ResourceNamespace = configv1.SchedulerDefaultLockObjectNamespace
	}
	if le.ResourceName == "" {
		le.ResourceName = configv1.SchedulerDefaultLockObjectName
	}
	componentbaseconfigv1alpha1.RecommendedDefaultLeaderElectionConfiguration(le)
	if cfg.ClientConnection.ContentType == "" {
		cfg.ClientConnection.ContentType = "application/vnd.kubernetes.protobuf"
	}
	if cfg.ClientConnection.QPS == 0 {
		cfg.ClientConnection.QPS = 50
	}
	if cfg.ClientConnection.Burst == 0 {
		cfg.ClientConnection.Burst = 100
	}
	if cfg.PodInitialBackoffSeconds == nil {
		cfg.PodInitialBackoffSeconds = ptr.To[int64](1)
	}
	if cfg.PodMaxBackoffSeconds == nil {
		cfg.PodMaxBackoffSeconds = ptr.To[int64](10)
	}
	if cfg.EnableProfiling == nil {
		cfg.EnableProfiling = ptr.To(true)
	}
	if *cfg.EnableProfiling && cfg.EnableContentionProfiling == nil {
		cfg.EnableContentionProfiling = ptr.To(true)
	}
}

func setProfileDefaults(prof *configv1.KubeSchedulerProfile) {
	prof.Plugins = mergePlugins(DefaultPlugins(), prof.Plugins)
	have := sets.New[string]()
	for i := range prof.PluginConfig {
		have.Insert(prof.PluginConfig[i].Name)
		if obj := prof.PluginConfig[i].Args.Object; obj != nil {
			defaultArgs(obj)
		}
	}
	for _, name := range pluginNames(prof.Plugins) {
		if have.Has(name) {
			continue
		}
		args := newArgs(name)
		if args == nil {
			continue
		}
		defaultArgs(args)
		args.GetObjectKind().SetGroupVersionKind(configv1.SchemeGroupVersion.WithKind(name + "Args"))
		prof.PluginConfig = append(prof.PluginConfig, configv1.PluginConfig{Name: name, Args: runtime.RawExtension{Object: args}})
	}
}

func pluginNames(p *configv1.Plugins) []string {
	var out []string
	seen := sets.New[string]()
	for _, set := range []configv1.PluginSet{p.MultiPoint, p.PreEnqueue, p.QueueSort, p.PreFilter, p.Filter, p.PostFilter,
		p.PreScore, p.Score, p.Reserve, p.Permit, p.PreBind, p.Bind, p.PostBind} {
		for _, pl := range set.Enabled {
			if !seen.Has(pl.Name) {
				seen.Insert(pl.Name)
				out = append(out, pl.Name)
			}
		}
	}
	return out
}

// DefaultArgs returns the defaulted args of a plugin, or nil for plugins
// without args.
func DefaultArgs(plugin string) runtime.Object {
	args := newArgs(plugin)
	if args != nil {
		defaultArgs(args)
	}
	return args
}

func newArgs(plugin string) runtime.Object {
	obj, err := scheme.New(configv1.SchemeGroupVersion.WithKind(plugin + "Args"))
	if err != nil {
		return nil
	}
	return obj
}

func defaultArgs(obj runtime.Object) {
	switch a := obj.(type) {
	case *configv1.DefaultPreemptionArgs:
		if a.MinCandidateNodesPercentage == nil {
			a.MinCandidateNodesPercentage = ptr.To[int32](10)
		}
		if a.MinCandidateNodesAbsolute == nil {
			a.MinCandidateNodesAbsolute = ptr.To[int32](100)
		}
	case *configv1.InterPodAffinityArgs:
		if a.HardPodAffinityWeight == nil {
			a.HardPodAffinityWeight = ptr.To[int32](1)
		}
	case *configv1.VolumeBindingArgs:
		if a.BindTimeoutSeconds == nil {
			a.BindTimeoutSeconds = ptr.To[int64](600)
		}
		if len(a.Shape) == 0 {
			a.Shape = []configv1.UtilizationShapePoint{{Utilization: 0, Score: 10}, {Utilization: 100, Score: 0}}
		}
	case *configv1.NodeResourcesBalancedAllocationArgs:
		if len(a.Resources) == 0 {
			a.Resources = append([]configv1.ResourceSpec(nil), defaultResourceSpec...)
		}
		for i := range a.Resources {
			if a.Resources[i].Weight == 0 {
				a.Resources[i].Weight = 1
			}
		}
	case *configv1.PodTopologySpreadArgs:
		if a.DefaultingType == "" {
			a.DefaultingType = configv1.SystemDefaulting
		}
	case *configv1.NodeResourcesFitArgs:
		if a.ScoringStrategy == nil {
			a.ScoringStrategy = &configv1.ScoringStrategy{Type: configv1.LeastAllocated}
		}
		if len(a.ScoringStrategy.Resources) == 0 {
			a.ScoringStrategy.Resources = append([]configv1.ResourceSpec(nil), defaultResourceSpec...)
		}
		for i := range a.ScoringStrategy.Resources {
			if a.ScoringStrategy.Resources[i].Weight == 0 {
				a.ScoringStrategy.Resources[i].Weight = 1
			}
		}
	}
}

// mergePlugins merges custom into the defaults upstream's way: disabled
// plugins (or "*") drop defaults, re-configured defaults keep their place,
// other custom plugins are appended.
func mergePlugins(defaults, custom *configv1.Plugins) *configv1.Plugins {
	if custom == nil {
		return defaults
	}
	defaults.MultiPoint = mergePluginSet(defaults.MultiPoint, custom.MultiPoint)
	defaults.PreEnqueue = mergePluginSet(defaults.PreEnqueue, custom.PreEnqueue)
	defaults.QueueSort = mergePluginSet(defaults.QueueSort, custom.QueueSort)
	defaults.PreFilter = mergePluginSet(defaults.PreFilter, custom.PreFilter)
	defaults.Filter = mergePluginSet(defaults.Filter, custom.Filter)
	defaults.PostFilter = mergePluginSet(defaults.PostFilter, custom.PostFilter)
	defaults.PreScore = mergePluginSet(defaults.PreScore, custom.PreScore)
	defaults.Score = mergePluginSet(defaults.Score, custom.Score)
	defaults.Reserve = mergePluginSet(defaults.Reserve, custom.Reserve)
	defaults.Permit = mergePluginSet(defaults.Permit, custom.Permit)
	defaults.PreBind = mergePluginSet(defaults.PreBind, custom.PreBind)
	defaults.Bind = mergePluginSet(defaults.Bind, custom.Bind)
	defaults.PostBind = mergePluginSet(defaults.PostBind, custom.PostBind)
	return defaults
}

func mergePluginSet(defaults, custom configv1.PluginSet) configv1.PluginSet {
	disabled := sets.New[string]()
	var disabledList []configv1.Plugin
	for _, p := range append(append([]configv1.Plugin(nil), custom.Disabled...), defaults.Disabled...) {
		disabledList = append(disabledList, configv1.Plugin{Name: p.Name})
		disabled.Insert(p.Name)
	}
	customIndex := map[string]int{}
	for i, p := range custom.Enabled {
		customIndex[p.Name] = i
	}
	replaced := sets.New[int]()
	var enabled []configv1.Plugin
	if !disabled.Has("*") {
		for _, p := range defaults.Enabled {
			if disabled.Has(p.Name) {
				continue
			}
			if i, ok := customIndex[p.Name]; ok {
				p = custom.Enabled[i]
				replaced.Insert(i)
			}
			enabled = append(enabled, p)
		}
	}
	for i, p := range custom.Enabled {
		if !replaced.Has(i) {
			enabled = append(enabled, p)
		}
	}
	return configv1.PluginSet{Enabled: enabled, Disabled: disabledList}
}

// PluginArgs returns the profile's typed plugin args by plugin name.
func PluginArgs(prof *configv1.KubeSchedulerProfile) map[string]runtime.Object {
	out := map[string]runtime.Object{}
	for _, pc := range prof.PluginConfig {
		if pc.Args.Object != nil {
			out[pc.Name] = pc.Args.Object
		}
	}
	return out
}

// Validate checks what skiff relies on; upstream's validation package is
// part of its scheduler, so these are skiff's own checks with upstream's
// rules.
func Validate(cfg *configv1.KubeSchedulerConfiguration) []error {
	var errs []error
	if p := cfg.PercentageOfNodesToScore; p != nil && (*p < 0 || *p > 100) {
		errs = append(errs, fmt.Errorf("percentageOfNodesToScore: Invalid value: %d: not in valid range [0-100]", *p))
	}
	if cfg.Parallelism != nil && *cfg.Parallelism <= 0 {
		errs = append(errs, fmt.Errorf("parallelism: Invalid value: %d: should be an integer value greater than zero", *cfg.Parallelism))
	}
	if cfg.PodInitialBackoffSeconds != nil && *cfg.PodInitialBackoffSeconds <= 0 {
		errs = append(errs, fmt.Errorf("podInitialBackoffSeconds: Invalid value: %d: must be greater than 0", *cfg.PodInitialBackoffSeconds))
	}
	if cfg.PodMaxBackoffSeconds != nil && cfg.PodInitialBackoffSeconds != nil && *cfg.PodMaxBackoffSeconds < *cfg.PodInitialBackoffSeconds {
		errs = append(errs, fmt.Errorf("podMaxBackoffSeconds: Invalid value: %d: must be greater than or equal to PodInitialBackoffSeconds", *cfg.PodMaxBackoffSeconds))
	}
	names := sets.New[string]()
	for i, prof := range cfg.Profiles {
		if prof.SchedulerName == nil || *prof.SchedulerName == "" {
			errs = append(errs, fmt.Errorf("profiles[%d].schedulerName: Required value", i))
			continue
		}
		if names.Has(*prof.SchedulerName) {
			errs = append(errs, fmt.Errorf("profiles[%d].schedulerName: Duplicate value: %q", i, *prof.SchedulerName))
		}
		names.Insert(*prof.SchedulerName)
		if p := prof.PercentageOfNodesToScore; p != nil && (*p < 0 || *p > 100) {
			errs = append(errs, fmt.Errorf("profiles[%d].percentageOfNodesToScore: Invalid value: %d: not in valid range [0-100]", i, *p))
		}
		seenArgs := sets.New[string]()
		for j, pc := range prof.PluginConfig {
			if seenArgs.Has(pc.Name) {
				errs = append(errs, fmt.Errorf("profiles[%d].pluginConfig[%d]: Duplicate value: %q", i, j, pc.Name))
			}
			seenArgs.Insert(pc.Name)
		}
		for _, pl := range prof.Plugins.Score.Enabled {
			if pl.Weight != nil && (*pl.Weight < 0 || *pl.Weight > 100) {
				errs = append(errs, fmt.Errorf("profiles[%d].plugins.score.enabled[%s].weight: Invalid value: %d: must be in the range [0, 100]", i, pl.Name, *pl.Weight))
			}
		}
	}
	return errs
}
