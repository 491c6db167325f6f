package podtopologyspread

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	configv1 "k8s.io/kube-scheduler/config/v1"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

const zone = v1.LabelTopologyZone

func cluster() ([]*v1.Node, []*v1.Pod) {
	nodes := []*v1.Node{
		st.MakeNode("node-a").Label(zone, "zone1").Obj(),
		st.MakeNode("node-b").Label(zone, "zone1").Obj(),
		st.MakeNode("node-x").Label(zone, "zone2").Obj(),
		st.MakeNode("node-y").Label(zone, "zone2").Obj(),
	}
	pods := []*v1.Pod{
		st.MakePod("ns", "a1").Label("foo", "").Node("node-a").Obj(),
		st.MakePod("ns", "b1").Label("foo", "").Node("node-b").Obj(),
		st.MakePod("ns", "x1").Label("foo", "").Node("node-x").Obj(),
		// Other namespaces and terminating pods do not count.
		st.MakePod("other", "y1").Label("foo", "").Node("node-y").Obj(),
	}
	return nodes, pods
}

func TestFilter(t *testing.T) {
	foo := map[string]string{"foo": ""}
	for _, tc := range []struct {
		name    string
		pod     *v1.Pod
		extra   *v1.Node
		fits    map[string]bool
		wantMsg string
	}{
		{
			// zone1 has 2 matching pods, zone2 1: only zone2 keeps skew <= 1.
			name: "maxSkew 1 over zones",
			pod:  st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj(),
			fits: map[string]bool{"node-a": false, "node-b": false, "node-x": true, "node-y": true},
		},
		{
			name: "maxSkew 2 allows zone1",
			pod:  st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(2, zone, v1.DoNotSchedule, foo).Obj(),
			fits: map[string]bool{"node-a": true, "node-b": true, "node-x": true, "node-y": true},
		},
		{
			// The pod does not match its own selector, so it adds nothing.
			name: "pod outside its selector",
			pod:  st.MakePod("ns", "p").SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj(),
			fits: map[string]bool{"node-a": true, "node-b": true, "node-x": true, "node-y": true},
		},
		{
			name: "whenUnsatisfiable ScheduleAnyway does not filter",
			pod:  st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, zone, v1.ScheduleAnyway, foo).Obj(),
			fits: map[string]bool{"node-a": true, "node-b": true, "node-x": true, "node-y": true},
		},
		{
			// Fewer domains than minDomains: the global minimum counts as 0,
			// so zone2 (1 pod) is at skew 2 too.
			name: "minDomains above the number of zones",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj()
				p.Spec.TopologySpreadConstraints[0].MinDomains = ptr.To[int32](3)
				return p
			}(),
			fits: map[string]bool{"node-a": false, "node-b": false, "node-x": false, "node-y": false},
		},
		{
			// Honor (the default) counts only nodes matching the pod's
			// nodeSelector: zone1 alone, whose minimum is itself.
			name: "nodeAffinityPolicy Honor",
			pod:  st.MakePod("ns", "p").Label("foo", "").NodeSelector(map[string]string{zone: "zone1"}).SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj(),
			fits: map[string]bool{"node-a": true, "node-b": true},
		},
		{
			name: "nodeAffinityPolicy Ignore",
			pod: func() *v1.Pod {
				p := st.MakePod("ns", "p").Label("foo", "").NodeSelector(map[string]string{zone: "zone1"}).SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj()
				p.Spec.TopologySpreadConstraints[0].NodeAffinityPolicy = ptr.To(v1.NodeInclusionPolicyIgnore)
				return p
			}(),
			fits: map[string]bool{"node-a": false, "node-b": false},
		},
		{
			name:    "node without the topology label",
			pod:     st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, zone, v1.DoNotSchedule, foo).Obj(),
			extra:   st.MakeNode("node-z").Obj(),
			fits:    map[string]bool{"node-z": false},
			wantMsg: ErrReasonNodeLabelNotMatch,
		},
		{
			name: "hostname spread",
			pod:  st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, v1.LabelHostname, v1.DoNotSchedule, foo).Obj(),
			// node-y has no pod of ns: the minimum is 0, so nodes with one
			// matching pod are at skew 2.
			fits: map[string]bool{"node-a": false, "node-b": false, "node-x": false, "node-y": true},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes, pods := cluster()
			if tc.extra != nil {
				nodes = append(nodes, tc.extra)
			}
			f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, pods)
			for node, fits := range tc.fits {
				s := f.Filter(t, tc.pod, node)
				if s.IsSuccess() != fits {
					t.Errorf("%s: Filter = %v, want fits=%v", node, s, fits)
					continue
				}
				if !fits {
					want := ErrReasonConstraintsNotMatch
					if tc.wantMsg != "" {
						want = tc.wantMsg
					}
					if s.Message() != want {
						t.Errorf("%s: message %q, want %q", node, s.Message(), want)
					}
				}
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes, pods := cluster()
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, pods)
	pod := st.MakePod("ns", "p").Label("foo", "").SpreadConstraint(1, zone, v1.ScheduleAnyway, map[string]string{"foo": ""}).Obj()
	// Raw: 2 pods * log(2 zones + 2) = 2.77 -> 3 in zone1, 1.39 -> 1 in
	// zone2; normalised as 100 * (max + min - score) / max.
	want := map[string]int64{"node-a": 33, "node-b": 33, "node-x": 100, "node-y": 100}
	if got := f.Scores(t, pod); !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
}

func TestSystemDefaultConstraints(t *testing.T) {
	nodes, _ := cluster()
	// A ReplicaSet's pods spread by default (soft) over hostnames and zones.
	rs := &metav1OwnerRS
	pods := []*v1.Pod{
		withOwner(st.MakePod("ns", "r1").Label("app", "web").Node("node-a").Obj(), rs),
		withOwner(st.MakePod("ns", "r2").Label("app", "web").Node("node-a").Obj(), rs),
	}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name},
		map[string]runtime.Object{Name: &configv1.PodTopologySpreadArgs{DefaultingType: configv1.SystemDefaulting}}, nodes, pods, replicaSet())
	got := f.Scores(t, withOwner(st.MakePod("ns", "p").Label("app", "web").Obj(), rs))
	if !(got["node-a"] < got["node-b"] && got["node-b"] < got["node-x"] && got["node-x"] == got["node-y"]) {
		t.Errorf("scores = %v; want node-a < node-b (same zone) < node-x = node-y", got)
	}
}
