package config

import (
	"strings"
	"testing"

	configv1 "k8s.io/kube-scheduler/config/v1"
)

func TestDefaults(t *testing.T) {
	cfg := Default()
	if len(cfg.Profiles) != 1 || *cfg.Profiles[0].SchedulerName != "default-scheduler" {
		t.Fatalf("profiles %+v", cfg.Profiles)
	}
	if *cfg.PercentageOfNodesToScore != 0 || *cfg.Parallelism != 16 || *cfg.PodInitialBackoffSeconds != 1 || *cfg.PodMaxBackoffSeconds != 10 {
		t.Errorf("defaults %+v", cfg)
	}
	le := cfg.LeaderElection
	if !*le.LeaderElect || le.ResourceNamespace != "kube-system" || le.ResourceName != "kube-scheduler" || le.ResourceLock != "leases" {
		t.Errorf("leader election %+v", le)
	}
	if cfg.ClientConnection.QPS != 50 || cfg.ClientConnection.Burst != 100 {
		t.Errorf("client connection %+v", cfg.ClientConnection)
	}
	args := PluginArgs(&cfg.Profiles[0])
	fit := args["NodeResourcesFit"].(*configv1.NodeResourcesFitArgs)
	if fit.ScoringStrategy.Type != configv1.LeastAllocated || len(fit.ScoringStrategy.Resources) != 2 {
		t.Errorf("fit args %+v", fit.ScoringStrategy)
	}
	if a := args["PodTopologySpread"].(*configv1.PodTopologySpreadArgs); a.DefaultingType != configv1.SystemDefaulting {
		t.Errorf("spread args %+v", a)
	}
	if a := args["DefaultPreemption"].(*configv1.DefaultPreemptionArgs); *a.MinCandidateNodesPercentage != 10 || *a.MinCandidateNodesAbsolute != 100 {
		t.Errorf("preemption args %+v", a)
	}
}

func TestDecode(t *testing.T) {
	cfg, err := Decode([]byte(`
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
percentageOfNodesToScore: 30
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: NodeResourcesFit
        weight: 5
      disabled:
      - name: ImageLocality
    score:
      disabled:
      - name: NodeResourcesBalancedAllocation
  pluginConfig:
  - name: NodeResourcesFit
    args:
      scoringStrategy:
        type: MostAllocated
`))
	if err != nil {
		t.Fatal(err)
	}
	if *cfg.PercentageOfNodesToScore != 30 {
		t.Errorf("percentage %d", *cfg.PercentageOfNodesToScore)
	}
	p := cfg.Profiles[0].Plugins
	var fitWeight int32
	for _, pl := range p.MultiPoint.Enabled {
		if pl.Name == "ImageLocality" {
			t.Error("disabled plugin still enabled")
		}
		if pl.Name == "NodeResourcesFit" && pl.Weight != nil {
			fitWeight = *pl.Weight
		}
	}
	if fitWeight != 5 {
		t.Errorf("NodeResourcesFit weight %d, want the file's 5", fitWeight)
	}
	if len(p.Score.Disabled) != 1 || p.Score.Disabled[0].Name != "NodeResourcesBalancedAllocation" {
		t.Errorf("score disabled %+v", p.Score.Disabled)
	}
	fit := PluginArgs(&cfg.Profiles[0])["NodeResourcesFit"].(*configv1.NodeResourcesFitArgs)
	if fit.ScoringStrategy.Type != configv1.MostAllocated || len(fit.ScoringStrategy.Resources) != 2 || fit.ScoringStrategy.Resources[0].Weight != 1 {
		t.Errorf("fit args not decoded and defaulted: %+v", fit.ScoringStrategy)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"bad percentage", "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\npercentageOfNodesToScore: 120\n", "percentageOfNodesToScore: Invalid value: 120"},
		{"unknown field", "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nnope: 1\n", "unknown field"},
		{"two profiles, one unnamed", "apiVersion: kubescheduler.config.k8s.io/v1\nkind: KubeSchedulerConfiguration\nprofiles:\n- schedulerName: a\n- {}\n", "profiles[1].schedulerName: Required value"},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\n", "decode scheduler config"},
	} {
		_, err := Decode([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestMergePluginSet(t *testing.T) {
	defaults := configv1.PluginSet{Enabled: []configv1.Plugin{{Name: "A"}, {Name: "B"}, {Name: "C"}}}
	w := int32(7)
	got := mergePluginSet(defaults, configv1.PluginSet{
		Enabled:  []configv1.Plugin{{Name: "B", Weight: &w}, {Name: "D"}},
		Disabled: []configv1.Plugin{{Name: "A"}},
	})
	var names []string
	for _, p := range got.Enabled {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "B,C,D" || *got.Enabled[0].Weight != 7 {
		t.Errorf("merged %v", names)
	}
	got = mergePluginSet(defaults, configv1.PluginSet{Enabled: []configv1.Plugin{{Name: "D"}}, Disabled: []configv1.Plugin{{Name: "*"}}})
	if len(got.Enabled) != 1 || got.Enabled[0].Name != "D" {
		t.Errorf("'*' should drop every default: %+v", got.Enabled)
	}
}
