package volumebinding

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/component-helpers/storage/volume"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func nodeAffinity(host string) *v1.VolumeNodeAffinity {
	return &v1.VolumeNodeAffinity{Required: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchExpressions: []v1.NodeSelectorRequirement{
		{Key: v1.LabelHostname, Operator: v1.NodeSelectorOpIn, Values: []string{host}}}}}}}
}

func TestFilter(t *testing.T) {
	immediate, wffc := storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer
	class := func(name, provisioner string, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
		return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: provisioner, VolumeBindingMode: &mode}
	}
	claim := func(name, class, volumeName string, bound bool) *v1.PersistentVolumeClaim {
		c := &v1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: "uid-" + "name"},
			Spec: v1.PersistentVolumeClaimSpec{StorageClassName: ptr.To(class), VolumeName: volumeName,
				AccessModes: []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
				Resources:   v1.VolumeResourceRequirements{Requests: v1.ResourceList{v1.ResourceStorage: resource.MustParse("1Gi")}}}}
		if bound {
			c.Annotations = map[string]string{volume.AnnBindCompleted: "yes"}
			c.Status.Phase = v1.ClaimBound
		}
		return c
	}
	pv := func(name, class, host string) *v1.PersistentVolume {
		return &v1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1.PersistentVolumeSpec{
			StorageClassName: class, NodeAffinity: nodeAffinity(host),
			AccessModes:            []v1.PersistentVolumeAccessMode{v1.ReadWriteOnce},
			Capacity:               v1.ResourceList{v1.ResourceStorage: resource.MustParse("2Gi")},
			PersistentVolumeSource: v1.PersistentVolumeSource{Local: &v1.LocalVolumeSource{Path: "/x"}}}, Status: v1.PersistentVolumeStatus{Phase: v1.VolumeAvailable}}
	}
	objs := []runtime.Object{
		class("fast", "example.com/csi", immediate),
		class("local", volume.NotSupportedProvisioner, wffc),
		class("dynamic", "example.com/csi", wffc),
		claim("bound-to-n1", "fast", "pv-n1", true), pv("pv-n1", "fast", "n1"),
		claim("unbound-immediate", "fast", "", false),
		claim("local-claim", "local", "", false), pv("local-n2", "local", "n2"),
		claim("dynamic-claim", "dynamic", "", false),
		claim("bound-missing-pv", "fast", "gone", true),
	}
	nodes := []*v1.Node{st.MakeNode("n1").Obj(), st.MakeNode("n2").Obj()}
	f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, nodes, nil, objs...)
	pod := func(claim string) *v1.Pod {
		p := st.MakePod("ns", "p").Obj()
		p.Spec.Volumes = []v1.Volume{{Name: "v", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}}
		return p
	}
	for _, tc := range []struct {
		claim, node, wantMsg string
	}{
		{"bound-to-n1", "n1", ""},
		{"bound-to-n1", "n2", ErrReasonNodeConflict},
		{"unbound-immediate", "n1", "pod has unbound immediate PersistentVolumeClaims"},
		{"local-claim", "n2", ""},
		{"local-claim", "n1", ErrReasonBindConflict},
		{"dynamic-claim", "n1", ""},
		{"bound-missing-pv", "n1", ErrReasonPVNotExist},
		{"nope", "n1", `persistentvolumeclaim "nope" not found`},
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

func TestShapeScore(t *testing.T) {
	shape := []configv1Point{{0, 10}, {100, 0}}
	for _, tc := range []struct{ utilization, want int64 }{{0, 100}, {50, 50}, {100, 0}, {120, 0}} {
		if got := shapeScore(toShape(shape), tc.utilization); got != tc.want {
			t.Errorf("utilization %d: %d, want %d", tc.utilization, got, tc.want)
		}
	}
}
