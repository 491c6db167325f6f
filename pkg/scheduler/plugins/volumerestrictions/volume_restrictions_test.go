package volumerestrictions

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func withVolume(p *v1.Pod, v v1.VolumeSource) *v1.Pod {
	p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: "v", VolumeSource: v})
	return p
}

func TestDiskConflicts(t *testing.T) {
	gce := func(name string, ro bool) v1.VolumeSource {
		return v1.VolumeSource{GCEPersistentDisk: &v1.GCEPersistentDiskVolumeSource{PDName: name, ReadOnly: ro}}
	}
	rbd := func(mons []string, image string) v1.VolumeSource {
		return v1.VolumeSource{RBD: &v1.RBDVolumeSource{CephMonitors: mons, RBDPool: "pool", RBDImage: image}}
	}
	for _, tc := range []struct {
		name          string
		pod, existing *v1.Pod
		fits          bool
	}{
		{"same GCE disk", withVolume(st.MakePod("ns", "p").Obj(), gce("d", false)), withVolume(st.MakePod("ns", "e").Obj(), gce("d", false)), false},
		{"same GCE disk read-only twice", withVolume(st.MakePod("ns", "p").Obj(), gce("d", true)), withVolume(st.MakePod("ns", "e").Obj(), gce("d", true)), true},
		{"other GCE disk", withVolume(st.MakePod("ns", "p").Obj(), gce("d", false)), withVolume(st.MakePod("ns", "e").Obj(), gce("x", false)), true},
		{"same EBS volume", withVolume(st.MakePod("ns", "p").Obj(), v1.VolumeSource{AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: "a", ReadOnly: true}}),
			withVolume(st.MakePod("ns", "e").Obj(), v1.VolumeSource{AWSElasticBlockStore: &v1.AWSElasticBlockStoreVolumeSource{VolumeID: "a", ReadOnly: true}}), false},
		{"RBD with overlapping monitors", withVolume(st.MakePod("ns", "p").Obj(), rbd([]string{"a", "b"}, "img")), withVolume(st.MakePod("ns", "e").Obj(), rbd([]string{"b", "c"}, "img")), false},
		{"RBD other image", withVolume(st.MakePod("ns", "p").Obj(), rbd([]string{"a"}, "img")), withVolume(st.MakePod("ns", "e").Obj(), rbd([]string{"a"}, "other")), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.existing.Spec.NodeName = "n"
			f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, []*v1.Node{st.MakeNode("n").Obj()}, []*v1.Pod{tc.existing})
			s := f.Filter(t, tc.pod, "n")
			if s.IsSuccess() != tc.fits {
				t.Fatalf("Filter = %v, want fits=%v", s, tc.fits)
			}
			if !tc.fits && s.Message() != ErrReasonDiskConflict {
				t.Errorf("message %q", s.Message())
			}
		})
	}
}

func TestReadWriteOncePod(t *testing.T) {
	pvc := func(name string, mode v1.PersistentVolumeAccessMode) *v1.PersistentVolumeClaim {
		return &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: v1.PersistentVolumeClaimSpec{AccessModes: []v1.PersistentVolumeAccessMode{mode}}}
	}
	claim := func(name string) v1.VolumeSource {
		return v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: name}}
	}
	user := withVolume(st.MakePod("ns", "user").Node("n1").Obj(), claim("rwop"))
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil,
		[]*v1.Node{st.MakeNode("n1").Obj(), st.MakeNode("n2").Obj()}, []*v1.Pod{user}, pvc("rwop", v1.ReadWriteOncePod), pvc("rwo", v1.ReadWriteOnce))
	// The claim is in use: no node fits, not even another.
	if s := f.Filter(t, withVolume(st.MakePod("ns", "p").Obj(), claim("rwop")), "n2"); s.Message() != ErrReasonReadWriteOncePodConflict || s.Code() != framework.Unschedulable {
		t.Errorf("RWOP in use: %v %q", s.Code(), s.Message())
	}
	if s := f.Filter(t, withVolume(st.MakePod("ns", "p").Obj(), claim("rwo")), "n2"); !s.IsSuccess() {
		t.Errorf("RWO claim: %v", s)
	}
	if s := f.Filter(t, withVolume(st.MakePod("ns", "p").Obj(), claim("missing")), "n2"); s.Code() != framework.UnschedulableAndUnresolvable || s.Message() != `persistentvolumeclaim "missing" not found` {
		t.Errorf("missing claim: %v %q", s.Code(), s.Message())
	}
}
