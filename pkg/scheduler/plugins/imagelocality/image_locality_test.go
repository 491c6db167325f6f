package imagelocality

import (
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestScore(t *testing.T) {
	pod := func(images ...string) *v1.Pod {
		p := st.MakePod("ns", "p").Obj()
		p.Spec.Containers = nil
		for i, img := range images {
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: string(rune('a' + i)), Image: img})
		}
		return p
	}
	nodes := []*v1.Node{
		st.MakeNode("n1").Images(map[string]int64{"gcr.io/40:v1": 40 * mb, "gcr.io/2000:latest": 2000 * mb}).Obj(),
		st.MakeNode("n2").Images(map[string]int64{"gcr.io/300:latest": 300 * mb, "gcr.io/40:v1": 40 * mb}).Obj(),
		st.MakeNode("n3").Obj(),
	}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil)
	for _, tc := range []struct {
		name string
		pod  *v1.Pod
		want map[string]int64
	}{
		{
			// gcr.io/40 is on 2 of 3 nodes: 40MB*2/3 = 26.7MB -> (26.7-23)/(2000-23) ~ 0;
			// gcr.io/300 (untagged means :latest) on n2 only: 100MB; n2 sums
			// 126MB of a 2000MB cap -> 5.
			name: "two images",
			pod:  pod("gcr.io/40:v1", "gcr.io/300"),
			want: map[string]int64{"n1": 0, "n2": 5, "n3": 0},
		},
		{
			// A 2000MB image on one node of three: 666MB of a 1000MB cap:
			// 100 * (666-23) / (1000-23) = 65.
			name: "one big image",
			pod:  pod("gcr.io/2000"),
			want: map[string]int64{"n1": 65, "n2": 0, "n3": 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.Scores(t, tc.pod); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("scores = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCalculatePriority(t *testing.T) {
	if got := calculatePriority(0, 1); got != 0 {
		t.Errorf("below the threshold: %d", got)
	}
	if got := calculatePriority(5000*mb, 1); got != framework.MaxNodeScore {
		t.Errorf("above the cap: %d", got)
	}
}
