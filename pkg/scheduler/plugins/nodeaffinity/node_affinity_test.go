package nodeaffinity

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	configv1 "k8s.io/kube-scheduler/config/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func required(terms ...v1.NodeSelectorTerm) *v1.Affinity {
	return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: terms}}}
}

func expr(key string, op v1.NodeSelectorOperator, values ...string) v1.NodeSelectorTerm {
	return v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func TestFilter(t *testing.T) {
	node := st.MakeNode("node1").Label("foo", "bar").Label("gpus", "4").Obj()
	for _, tc := range []struct {
		name    string
		pod     *v1.Pod
		added   *v1.NodeAffinity
		wantMsg string
	}{
		{name: "no selector", pod: st.MakePod("ns", "p").Obj()},
		{name: "nodeSelector matches", pod: st.MakePod("ns", "p").NodeSelector(map[string]string{"foo": "bar"}).Obj()},
		{name: "nodeSelector mismatch", pod: st.MakePod("ns", "p").NodeSelector(map[string]string{"foo": "baz"}).Obj(), wantMsg: ErrReasonPod},
		{name: "In matches", pod: st.MakePod("ns", "p").Affinity(required(expr("foo", v1.NodeSelectorOpIn, "value1", "bar"))).Obj()},
		{name: "NotIn excludes", pod: st.MakePod("ns", "p").Affinity(required(expr("foo", v1.NodeSelectorOpNotIn, "bar"))).Obj(), wantMsg: ErrReasonPod},
		{name: "Gt compares numbers", pod: st.MakePod("ns", "p").Affinity(required(expr("gpus", v1.NodeSelectorOpGt, "3"))).Obj()},
		{name: "Lt fails", pod: st.MakePod("ns", "p").Affinity(required(expr("gpus", v1.NodeSelectorOpLt, "3"))).Obj(), wantMsg: ErrReasonPod},
		{name: "DoesNotExist fails", pod: st.MakePod("ns", "p").Affinity(required(expr("foo", v1.NodeSelectorOpDoesNotExist))).Obj(), wantMsg: ErrReasonPod},
		{
			name: "terms are ORed",
			pod:  st.MakePod("ns", "p").Affinity(required(expr("foo", v1.NodeSelectorOpIn, "nope"), expr("gpus", v1.NodeSelectorOpExists))).Obj(),
		},
		{
			name:    "nodeSelector and affinity are ANDed",
			pod:     st.MakePod("ns", "p").NodeSelector(map[string]string{"foo": "baz"}).Affinity(required(expr("gpus", v1.NodeSelectorOpExists))).Obj(),
			wantMsg: ErrReasonPod,
		},
		{
			// An empty list of terms selects nothing.
			name: "empty terms match nothing", pod: st.MakePod("ns", "p").Affinity(required()).Obj(), wantMsg: ErrReasonPod,
		},
		{
			name:    "scheduler-enforced affinity",
			pod:     st.MakePod("ns", "p").Obj(),
			added:   &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{expr("zone", v1.NodeSelectorOpExists)}}},
			wantMsg: errReasonEnforced,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var args map[string]runtime.Object
			if tc.added != nil {
				args = map[string]runtime.Object{Name: &configv1.NodeAffinityArgs{AddedAffinity: tc.added}}
			}
			f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, args, []*v1.Node{node}, nil)
			s := f.Filter(t, tc.pod, "node1")
			if s.Message() != tc.wantMsg {
				t.Errorf("Filter = %v %q, want %q", s.Code(), s.Message(), tc.wantMsg)
			}
			if tc.wantMsg != "" && s.Code() != framework.UnschedulableAndUnresolvable {
				t.Errorf("code = %v", s.Code())
			}
		})
	}
}

func TestPreFilterNodeNames(t *testing.T) {
	nameIn := func(names ...string) v1.NodeSelectorTerm {
		return v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: names}}}
	}
	both := nameIn("a", "b")
	both.MatchFields = append(both.MatchFields, v1.NodeSelectorRequirement{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{"b", "c"}})
	for _, tc := range []struct {
		name     string
		affinity *v1.Affinity
		want     sets.Set[string]
		wantMsg  string
	}{
		{name: "one term", affinity: required(nameIn("a")), want: sets.New("a")},
		{name: "terms are unioned", affinity: required(nameIn("a"), nameIn("b")), want: sets.New("a", "b")},
		{name: "fields in a term are intersected", affinity: required(both), want: sets.New("b")},
		{name: "a term without names admits all", affinity: required(nameIn("a"), expr("x", v1.NodeSelectorOpExists))},
		{name: "conflicting fields", affinity: required(v1.NodeSelectorTerm{MatchFields: []v1.NodeSelectorRequirement{
			{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{"a"}},
			{Key: metav1.ObjectNameField, Operator: v1.NodeSelectorOpIn, Values: []string{"b"}}}}), wantMsg: errReasonConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, _ := New(t.Context(), nil, nil)
			res, s := pl.(*NodeAffinity).PreFilter(t.Context(), framework.NewCycleState(), st.MakePod("ns", "p").Affinity(tc.affinity).Obj(), nil)
			if s.Message() != tc.wantMsg {
				t.Fatalf("status %v", s)
			}
			if tc.want == nil {
				if !res.AllNodes() {
					t.Errorf("result %v, want all nodes", res.NodeNames)
				}
			} else if res.AllNodes() || !res.NodeNames.Equal(tc.want) {
				t.Errorf("result %v, want %v", res, tc.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*v1.Node{
		st.MakeNode("n1").Label("foo", "bar").Obj(),
		st.MakeNode("n2").Label("key", "value").Obj(),
		st.MakeNode("n3").Label("foo", "bar").Label("key", "value").Obj(),
	}
	pref := func(w int32, k, v string) v1.PreferredSchedulingTerm {
		return v1.PreferredSchedulingTerm{Weight: w, Preference: expr(k, v1.NodeSelectorOpIn, v)}
	}
	pod := st.MakePod("ns", "p").Affinity(&v1.Affinity{NodeAffinity: &v1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []v1.PreferredSchedulingTerm{pref(2, "foo", "bar"), pref(4, "key", "value")},
	}}).Obj()
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil)
	// Raw 2, 4, 6 normalised to the highest.
	want := map[string]int64{"n1": 33, "n2": 66, "n3": 100}
	if got := f.Scores(t, pod); !reflect.DeepEqual(got, want) {
		t.Errorf("scores = %v, want %v", got, want)
	}
	if got := f.Scores(t, st.MakePod("ns", "q").Obj()); got["n1"] != 0 || got["n3"] != 0 {
		t.Errorf("no preferences should skip scoring, got %v", got)
	}
}
