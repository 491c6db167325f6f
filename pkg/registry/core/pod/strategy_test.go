package pod

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/utils/ptr"
)

func testPod(name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{{Name: "c", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile}},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			DNSPolicy:                     corev1.DNSClusterFirst,
			SchedulerName:                 corev1.DefaultSchedulerName,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			SecurityContext:               &corev1.PodSecurityContext{},
		},
	}
}

func resources(cpu, mem string, limits bool) corev1.ResourceRequirements {
	list := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	if limits {
		return corev1.ResourceRequirements{Requests: list, Limits: list.DeepCopy()}
	}
	return corev1.ResourceRequirements{Requests: list}
}

func TestPrepareForCreateResetsStatusAndSetsQOS(t *testing.T) {
	tests := []struct {
		name      string
		resources corev1.ResourceRequirements
		want      corev1.PodQOSClass
	}{
		{"no resources", corev1.ResourceRequirements{}, corev1.PodQOSBestEffort},
		{"requests only", resources("100m", "10Mi", false), corev1.PodQOSBurstable},
		{"requests equal limits", resources("100m", "10Mi", true), corev1.PodQOSGuaranteed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Generation = 7
			pod.Spec.Containers[0].Resources = tt.resources
			pod.Status = corev1.PodStatus{
				Phase:      corev1.PodRunning,
				PodIP:      "10.0.0.1",
				PodIPs:     []corev1.PodIP{{IP: "10.0.0.1"}},
				QOSClass:   corev1.PodQOSGuaranteed,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			}
			strategy.PrepareForCreate(context.Background(), pod)
			if pod.Status.Phase != corev1.PodPending || pod.Status.PodIP != "" || len(pod.Status.Conditions) != 0 {
				t.Errorf("status not reset: %+v", pod.Status)
			}
			if pod.Status.QOSClass != tt.want {
				t.Errorf("qosClass = %q, want %q", pod.Status.QOSClass, tt.want)
			}
			if pod.Generation != 1 {
				t.Errorf("generation = %d, want 1", pod.Generation)
			}
		})
	}
}

func TestPrepareForCreateSchedulingGates(t *testing.T) {
	pod := testPod("p")
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/gate"}}
	strategy.PrepareForCreate(context.Background(), pod)
	if len(pod.Status.Conditions) != 1 {
		t.Fatalf("conditions = %+v, want one PodScheduled", pod.Status.Conditions)
	}
	c := pod.Status.Conditions[0]
	if c.Type != corev1.PodScheduled || c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonSchedulingGated {
		t.Errorf("condition = %+v", c)
	}
}

func TestPrepareForUpdateKeepsStatusAndTracksGeneration(t *testing.T) {
	old := testPod("p")
	old.Generation = 3
	old.Status = corev1.PodStatus{Phase: corev1.PodRunning, QOSClass: corev1.PodQOSBestEffort}

	labelsOnly := old.DeepCopy()
	labelsOnly.Labels = map[string]string{"a": "b"}
	labelsOnly.Status = corev1.PodStatus{Phase: corev1.PodFailed}
	strategy.PrepareForUpdate(context.Background(), labelsOnly, old)
	if labelsOnly.Status.Phase != corev1.PodRunning {
		t.Errorf("status changed through the main resource: %+v", labelsOnly.Status)
	}
	if labelsOnly.Generation != 3 {
		t.Errorf("generation = %d after a metadata change, want 3", labelsOnly.Generation)
	}

	newImage := old.DeepCopy()
	newImage.Spec.Containers[0].Image = "nginx"
	strategy.PrepareForUpdate(context.Background(), newImage, old)
	if newImage.Generation != 4 {
		t.Errorf("generation = %d after a spec change, want 4", newImage.Generation)
	}
	if newImage.Spec.Containers[0].Image != "nginx" {
		t.Errorf("spec change lost: %q", newImage.Spec.Containers[0].Image)
	}
}

func TestStatusPrepareForUpdateKeepsSpec(t *testing.T) {
	old := testPod("p")
	old.Generation = 2
	old.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "1"}}
	old.Status = corev1.PodStatus{
		Phase:              corev1.PodPending,
		QOSClass:           corev1.PodQOSBestEffort,
		ObservedGeneration: 2,
		Conditions:         []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, ObservedGeneration: 2}},
	}
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx"
	pod.Spec.NodeName = "n1"
	pod.OwnerReferences = nil
	pod.Status = corev1.PodStatus{
		Phase:      corev1.PodRunning,
		PodIPs:     []corev1.PodIP{{IP: "10.0.0.5"}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
	}
	statusStrategy.PrepareForUpdate(context.Background(), pod, old)
	if pod.Spec.Containers[0].Image != "busybox" || pod.Spec.NodeName != "" {
		t.Errorf("spec changed through /status: %+v", pod.Spec)
	}
	if pod.Status.Phase != corev1.PodRunning || len(pod.Status.PodIPs) != 1 {
		t.Errorf("status not written: %+v", pod.Status)
	}
	if len(pod.OwnerReferences) != 1 {
		t.Errorf("owner references changed through /status: %+v", pod.OwnerReferences)
	}
	if pod.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass = %q, want it backfilled", pod.Status.QOSClass)
	}
	if pod.Status.ObservedGeneration != 2 || pod.Status.Conditions[0].ObservedGeneration != 2 {
		t.Errorf("observedGeneration not preserved: %d, %d", pod.Status.ObservedGeneration, pod.Status.Conditions[0].ObservedGeneration)
	}
	if pod.Generation != 2 {
		t.Errorf("generation = %d, want 2", pod.Generation)
	}
}

func TestEphemeralContainersPrepareForUpdate(t *testing.T) {
	old := testPod("p")
	old.Generation = 1
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx"
	pod.Labels = map[string]string{"a": "b"}
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
	ephemeralContainersStrategy.PrepareForUpdate(context.Background(), pod, old)
	if pod.Spec.Containers[0].Image != "busybox" || pod.Labels != nil {
		t.Errorf("changes other than ephemeral containers kept: image %q labels %v", pod.Spec.Containers[0].Image, pod.Labels)
	}
	if len(pod.Spec.EphemeralContainers) != 1 || pod.Generation != 2 {
		t.Errorf("ephemeral containers %v, generation %d", pod.Spec.EphemeralContainers, pod.Generation)
	}
}

func TestResizePrepareForUpdate(t *testing.T) {
	old := testPod("p")
	old.Generation = 1
	pod := old.DeepCopy()
	pod.Spec.Containers[0].Image = "nginx"
	pod.Spec.Containers[0].Resources = resources("200m", "20Mi", false)
	resizeStrategy.PrepareForUpdate(context.Background(), pod, old)
	if pod.Spec.Containers[0].Image != "busybox" {
		t.Errorf("image changed through /resize: %q", pod.Spec.Containers[0].Image)
	}
	if got := pod.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "200m" || pod.Generation != 2 {
		t.Errorf("cpu request %s, generation %d; want 200m, 2", got, pod.Generation)
	}
}

func TestCheckGracefulDelete(t *testing.T) {
	tests := []struct {
		name      string
		nodeName  string
		phase     corev1.PodPhase
		specGrace *int64
		optGrace  *int64
		want      int64
	}{
		{"unscheduled pod goes at once", "", corev1.PodPending, ptr.To[int64](30), nil, 0},
		{"unscheduled pod ignores the request", "", corev1.PodPending, ptr.To[int64](30), ptr.To[int64](60), 0},
		{"scheduled pod uses the spec", "n1", corev1.PodRunning, ptr.To[int64](30), nil, 30},
		{"request overrides the spec", "n1", corev1.PodRunning, ptr.To[int64](30), ptr.To[int64](5), 5},
		{"no spec value means now", "n1", corev1.PodRunning, nil, nil, 0},
		{"succeeded pod goes at once", "n1", corev1.PodSucceeded, ptr.To[int64](30), nil, 0},
		{"failed pod goes at once", "n1", corev1.PodFailed, ptr.To[int64](30), ptr.To[int64](10), 0},
		{"negative becomes 1", "n1", corev1.PodRunning, ptr.To[int64](30), ptr.To[int64](-1), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.NodeName = tt.nodeName
			pod.Spec.TerminationGracePeriodSeconds = tt.specGrace
			pod.Status.Phase = tt.phase
			opts := &metav1.DeleteOptions{GracePeriodSeconds: tt.optGrace}
			if !strategy.CheckGracefulDelete(context.Background(), pod, opts) {
				t.Fatal("CheckGracefulDelete = false, want true")
			}
			if opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != tt.want {
				t.Errorf("grace period = %v, want %d", opts.GracePeriodSeconds, tt.want)
			}
		})
	}
	if strategy.CheckGracefulDelete(context.Background(), testPod("p"), nil) {
		t.Error("CheckGracefulDelete(nil options) = true, want false")
	}
}

func TestValidateUsesUpstreamRules(t *testing.T) {
	pod := testPod("p")
	pod.Spec.Containers[0].Image = ""
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: -1, Protocol: corev1.ProtocolTCP}}
	errs := strategy.Validate(context.Background(), pod)
	got := errs.ToAggregate().Error()
	for _, want := range []string{
		"spec.containers[0].image: Required value",
		"spec.containers[0].ports[0].containerPort: Invalid value: -1: must be between 1 and 65535, inclusive",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}

	old := testPod("p")
	updated := old.DeepCopy()
	updated.Spec.RestartPolicy = corev1.RestartPolicyNever
	errs = strategy.ValidateUpdate(context.Background(), updated, old)
	if got := errs.ToAggregate(); got == nil || !strings.Contains(got.Error(), "pod updates may not change fields other than") {
		t.Errorf("update of an immutable field: errors %v", got)
	}
}

func TestWarningsOnCreate(t *testing.T) {
	warnings := strategy.WarningsOnCreate(context.Background(), testPod("a.b"))
	if len(warnings) == 0 || !strings.HasPrefix(warnings[0], "metadata.name: this is used in the Pod's hostname") {
		t.Errorf("warnings = %q", warnings)
	}
	if warnings := strategy.WarningsOnCreate(context.Background(), testPod("ab")); len(warnings) != 0 {
		t.Errorf("warnings for a good pod = %q", warnings)
	}
}

func TestSelectableFields(t *testing.T) {
	pod := testPod("p")
	pod.Spec.NodeName = "n1"
	pod.Spec.ServiceAccountName = "sa"
	pod.Status.Phase = corev1.PodRunning
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.1"}, {IP: "fd00::1"}}
	pod.Status.NominatedNodeName = "n2"
	set := selectableFields(pod)
	for selector, match := range map[string]bool{
		"spec.nodeName=n1":                     true,
		"spec.restartPolicy=Always":            true,
		"spec.schedulerName=default-scheduler": true,
		"spec.serviceAccountName=sa":           true,
		"spec.hostNetwork=false":               true,
		"status.phase=Running":                 true,
		"status.podIP=10.0.0.1":                true,
		"status.podIP=fd00::1":                 false,
		"status.nominatedNodeName=n2":          true,
		"metadata.name=p":                      true,
		"metadata.namespace=default":           true,
		"status.phase=Pending":                 false,
	} {
		sel, err := fields.ParseSelector(selector)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.Matches(set); got != match {
			t.Errorf("%s matches = %v, want %v", selector, got, match)
		}
	}
}
