package interpodaffinity

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

const zone = v1.LabelTopologyZone

func nodes() []*v1.Node {
	return []*v1.Node{
		st.MakeNode("n1").Label(zone, "z1").Obj(),
		st.MakeNode("n2").Label(zone, "z1").Obj(),
		st.MakeNode("n3").Label(zone, "z2").Obj(),
	}
}

func affinity(terms ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAffinity: &v1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}}
}

func antiAffinity(terms ...v1.PodAffinityTerm) *v1.Affinity {
	return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: terms}}
}

func TestFilter(t *testing.T) {
	db := st.MakePod("ns", "db").Label("app", "db").Node("n1").Obj()
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		existing []*v1.Pod
		fits     map[string]string // node -> rejection message ("" fits)
	}{
		{
			name:     "affinity to a pod's zone",
			pod:      st.MakePod("ns", "p").Affinity(affinity(st.PodAffinityTerm(zone, map[string]string{"app": "db"}))).Obj(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n1": "", "n2": "", "n3": ErrReasonAffinityRulesNotMatch},
		},
		{
			// Terms default to the pod's namespace.
			name:     "affinity ignores other namespaces",
			pod:      st.MakePod("other", "p").Affinity(affinity(st.PodAffinityTerm(zone, map[string]string{"app": "db"}))).Obj(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch},
		},
		{
			name: "affinity with an explicit namespace list",
			pod: func() *v1.Pod {
				term := st.PodAffinityTerm(zone, map[string]string{"app": "db"})
				term.Namespaces = []string{"ns"}
				return st.MakePod("other", "p").Affinity(affinity(term)).Obj()
			}(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n2": "", "n3": ErrReasonAffinityRulesNotMatch},
		},
		{
			name: "affinity with a namespace selector",
			pod: func() *v1.Pod {
				term := st.PodAffinityTerm(zone, map[string]string{"app": "db"})
				term.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}
				return st.MakePod("other", "p").Affinity(affinity(term)).Obj()
			}(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n2": "", "n3": ErrReasonAffinityRulesNotMatch},
		},
		{
			// The first pod of a group whose affinity selects itself may go
			// anywhere.
			name: "first pod with self-affinity",
			pod:  st.MakePod("ns", "p").Label("app", "web").Affinity(affinity(st.PodAffinityTerm(zone, map[string]string{"app": "web"}))).Obj(),
			fits: map[string]string{"n1": "", "n3": ""},
		},
		{
			name: "affinity to nothing",
			pod:  st.MakePod("ns", "p").Affinity(affinity(st.PodAffinityTerm(zone, map[string]string{"app": "web"}))).Obj(),
			fits: map[string]string{"n1": ErrReasonAffinityRulesNotMatch, "n3": ErrReasonAffinityRulesNotMatch},
		},
		{
			name:     "anti-affinity per host",
			pod:      st.MakePod("ns", "p").Affinity(antiAffinity(st.PodAffinityTerm(v1.LabelHostname, map[string]string{"app": "db"}))).Obj(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": "", "n3": ""},
		},
		{
			name:     "anti-affinity per zone",
			pod:      st.MakePod("ns", "p").Affinity(antiAffinity(st.PodAffinityTerm(zone, map[string]string{"app": "db"}))).Obj(),
			existing: []*v1.Pod{db},
			fits:     map[string]string{"n1": ErrReasonAntiAffinityRulesNotMatch, "n2": ErrReasonAntiAffinityRulesNotMatch, "n3": ""},
		},
		{
			// A running pod's anti-affinity keeps matching pods out of its
			// zone.
			name: "existing pod's anti-affinity",
			pod:  st.MakePod("ns", "p").Label("app", "web").Obj(),
			existing: []*v1.Pod{
				st.MakePod("ns", "guard").Node("n3").Affinity(antiAffinity(st.PodAffinityTerm(zone, map[string]string{"app": "web"}))).Obj(),
			},
			fits: map[string]string{"n1": "", "n3": ErrReasonExistingAntiAffinityRulesNotMatch},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nsA := &v1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns", Labels: map[string]string{"team": "a"}}}
			f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes(), tc.existing, nsA)
			for node, want := range tc.fits {
				s := f.Filter(t, tc.pod, node)
				if s.Message() != want {
					t.Errorf("%s: Filter = %v %q, want %q", node, s.Code(), s.Message(), want)
				}
				wantCode := framework.Success
				switch want {
				case ErrReasonAffinityRulesNotMatch:
					wantCode = framework.UnschedulableAndUnresolvable
				case ErrReasonAntiAffinityRulesNotMatch, ErrReasonExistingAntiAffinityRulesNotMatch:
					wantCode = framework.Unschedulable
				}
				if s.Code() != wantCode {
					t.Errorf("%s: code %v, want %v", node, s.Code(), wantCode)
				}
			}
		})
	}
}

func TestScore(t *testing.T) {
	weighted := func(w int32, key string, sel map[string]string) v1.WeightedPodAffinityTerm {
		return v1.WeightedPodAffinityTerm{Weight: w, PodAffinityTerm: st.PodAffinityTerm(key, sel)}
	}
	existing := []*v1.Pod{st.MakePod("ns", "db").Label("app", "db").Node("n1").Obj()}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes(), existing)
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{
			name: "preferred affinity",
			pod: st.MakePod("ns", "p").Affinity(&v1.Affinity{PodAffinity: &v1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{weighted(5, zone, map[string]string{"app": "db"})}}}).Obj(),
			want: map[string]int64{"n1": 100, "n2": 100, "n3": 0},
		},
		{
			name: "preferred anti-affinity",
			pod: st.MakePod("ns", "p").Affinity(&v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{weighted(5, v1.LabelHostname, map[string]string{"app": "db"})}}}).Obj(),
			want: map[string]int64{"n1": 0, "n2": 100, "n3": 100},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Scores(t, tc.pod); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores = %v, want %v", got, tc.want)
			}
		})
	}

	// A running pod's required affinity attracts the pods it selects
	// (hardPodAffinityWeight).
	follower := st.MakePod("ns", "follower").Node("n3").Affinity(affinity(st.PodAffinityTerm(zone, map[string]string{"app": "web"}))).Obj()
	f = st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes(), []*v1.Pod{follower})
	if got, want := f.Scores(t, st.MakePod("ns", "p").Label("app", "web").Obj()), map[string]int64{"n1": 0, "n2": 0, "n3": 100}; !reflect.DeepEqual(got, want) {
		t.Errorf("symmetric scores = %v, want %v", got, want)
	}
}
