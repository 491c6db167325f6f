package volumezone

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestFilter(t *testing.T) {
	pv := func(name string, labels map[string]string) *v1.PersistentVolume {
		return &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	pvc := func(name, volume, class string) *v1.PersistentVolumeClaim {
		c := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: volume}}
		if class != "" {
			c.Spec.StorageClassName = ptr.To(class)
		}
		return c
	}
	objs := []runtime.Object{
		pv("pv-a", map[string]string{v1.LabelTopologyZone: "us-a"}),
		pv("pv-ab", map[string]string{v1.LabelFailureDomainBetaZone: "us-a__us-b"}),
		pvc("claim-a", "pv-a", ""), pvc("claim-ab", "pv-ab", ""),
		pvc("claim-wffc", "", "wffc"), pvc("claim-missing-pv", "nope", ""),
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "wffc"}, VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer)},
	}
	nodes := []*v1.Node{
		st.MakeNode("in-a").Label(v1.LabelTopologyZone, "us-a").Obj(),
		st.MakeNode("in-b").Label(v1.LabelTopologyZone, "us-b").Obj(),
		st.MakeNode("unlabelled").Obj(),
	}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil, objs...)
	pod := func(claim string) *v1.Pod {
		p := st.MakePod("ns", "p").Obj()
		p.Spec.Volumes = []v1.Volume{{Name: "v", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
		return p
	}
	for _, tc := range []struct {
		claim, node, wantMsg string
	}{
		{"claim-a", "in-a", ""},
		{"claim-a", "in-b", ErrReasonConflict},
		{"claim-a", "unlabelled", ""},
		// Beta labels match GA node labels; "__" separates zones.
		{"claim-ab", "in-b", ""},
		{"claim-wffc", "in-b", ""},
		{"claim-missing-pv", "in-a", `persistentvolume "nope" not found`},
		{"no-such-claim", "in-a", `persistentvolumeclaim "no-such-claim" not found`},
	} {
		s := f.Filter(t, pod(tc.claim), tc.node)
		if s.Message() != tc.wantMsg {
			t.Errorf("%s on %s: %v %q, want %q", tc.claim, tc.node, s.Code(), s.Message(), tc.wantMsg)
		}
		if tc.wantMsg != "" && s.Code() != framework.UnschedulableAndUnresolvable {
			t.Errorf("%s on %s: code %v", tc.claim, tc.node, s.Code())
		}
	}
}
