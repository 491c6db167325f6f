package nodeports

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"github.com/skiff-project/skiff/pkg/scheduler/framework"
	st "github.com/skiff-project/skiff/pkg/scheduler/testing"
)

func TestFilter(t *testing.T) {
	node := st.MakeNode("n").Obj()
	for _, tc := range []struct {
		name     string
		pod      *v1.Pod
		existing *v1.Pod
		fits     bool
	}{
		{name: "no ports", pod: st.MakePod("ns", "p").Obj(), existing: st.MakePod("ns", "e").HostPort(80, v1.ProtocolTCP, "").Obj(), fits: true},
		{name: "same port", pod: st.MakePod("ns", "p").HostPort(8080, v1.ProtocolTCP, "").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "").Obj()},
		{name: "other protocol", pod: st.MakePod("ns", "p").HostPort(8080, v1.ProtocolUDP, "").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "").Obj(), fits: true},
		{name: "other host IPs", pod: st.MakePod("ns", "p").HostPort(8080, v1.ProtocolTCP, "127.0.0.1").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "127.0.0.2").Obj(), fits: true},
		{name: "0.0.0.0 takes every IP", pod: st.MakePod("ns", "p").HostPort(8080, v1.ProtocolTCP, "127.0.0.1").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "0.0.0.0").Obj()},
		{name: "a specific IP blocks 0.0.0.0", pod: st.MakePod("ns", "p").HostPort(8080, v1.ProtocolTCP, "").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "127.0.0.1").Obj()},
		{name: "empty protocol is TCP", pod: st.MakePod("ns", "p").HostPort(8080, "", "").Obj(), existing: st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "").Obj()},
		{
			name: "ports of sidecar containers count",
			pod:  st.MakePod("ns", "p").HostPort(9000, v1.ProtocolTCP, "").Obj(),
			existing: func() *v1.Pod {
				p := st.MakePod("ns", "e").Obj()
				p.Spec.InitContainers = []v1.Container{{Name: "side", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways), Ports: []v1.ContainerPort{{HostPort: 9000, ContainerPort: 9000}}}}
				return p
			}(),
		},
		{
			name: "ports of ordinary init containers do not",
			pod:  st.MakePod("ns", "p").HostPort(9000, v1.ProtocolTCP, "").Obj(),
			existing: func() *v1.Pod {
				p := st.MakePod("ns", "e").Obj()
				p.Spec.InitContainers = []v1.Container{{Name: "init", Ports: []v1.ContainerPort{{HostPort: 9000, ContainerPort: 9000}}}}
				return p
			}(),
			fits: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.existing.Spec.NodeName = "n"
			f := st.NewFramework(t, framework.Registry{Name: New}, []string{Name}, nil, []*v1.Node{node}, []*v1.Pod{tc.existing})
			s := f.Filter(t, tc.pod, "n")
			if s.IsSuccess() != tc.fits {
				t.Fatalf("Filter = %v, want fits=%v", s, tc.fits)
			}
			if !tc.fits && (s.Code() != framework.Unschedulable || s.Message() != ErrReason) {
				t.Errorf("Filter = %v %q", s.Code(), s.Message())
			}
		})
	}
}

func TestHintOnDelete(t *testing.T) {
	pod := st.MakePod("ns", "p").HostPort(8080, v1.ProtocolTCP, "").Obj()
	same := st.MakePod("ns", "e").HostPort(8080, v1.ProtocolTCP, "").Node("n").Obj()
	other := st.MakePod("ns", "e").HostPort(9090, v1.ProtocolTCP, "").Node("n").Obj()
	if h, _ := isSchedulableAfterAssignedPodDeleted(klog.Background(), pod, same, nil); h != framework.Queue {
		t.Error("deleting a pod with the same port should requeue")
	}
	if h, _ := isSchedulableAfterAssignedPodDeleted(klog.Background(), pod, other, nil); h != framework.QueueSkip {
		t.Error("deleting a pod with other ports should not requeue")
	}
}
