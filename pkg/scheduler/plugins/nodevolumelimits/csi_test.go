package nodevolumelimits

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestCSILimits(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("v%d", i)
		objs = append(objs,
			&v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{
				PersistentVolumeSource: v1.PersistentVolumeSource{CSI: &v1.CSIPersistentVolumeSource{Driver: "ebs.csi", VolumeHandle: "h" + name}}}},
			&v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c" + name}, Spec: v1.PersistentVolumeClaimSpec{VolumeName: name}})
	}
	objs = append(objs, &storagev1.CSINode{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: storagev1.CSINodeSpec{Drivers: []storagev1.CSINodeDriver{
		{Name: "ebs.csi", NodeID: "n", Allocatable: &storagev1.VolumeNodeResources{Count: ptr.To[int32](2)}}}}})
	pod := func(name, node string, claims ...string) *v1.Pod {
		p := st.MakePod("ns", name).Node(node).Obj()
		for _, c := range claims {
			p.Spec.Volumes = append(p.Spec.Volumes, v1.Volume{Name: c, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: c}}})
		}
		return p
	}
	existing := pod("e", "n", "cv0")
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, []*v1.Node{st.MakeNode("n").Obj()}, []*v1.Pod{existing}, objs...)
	for _, tc := range []struct {
		name   string
		claims []string
		fits   bool
	}{
		{"one more volume fits", []string{"cv1"}, true},
		{"two more exceed 2", []string{"cv1", "cv2"}, false},
		{"the attached volume is not counted twice", []string{"cv0", "cv1"}, true},
	} {
		s := f.Filter(t, pod("p", "", tc.claims...), "n")
		if s.IsSuccess() != tc.fits {
			t.Errorf("%s: %v, want fits=%v", tc.name, s, tc.fits)
		}
		if !tc.fits && (s.Code() != framework.Unschedulable || s.Message() != ErrReasonMaxVolumeCountExceeded) {
			t.Errorf("%s: %v %q", tc.name, s.Code(), s.Message())
		}
	}
}
