package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

const (
	nodeStatusUpdateFrequency = 10 * time.Second
	nodeStatusReportFrequency = 5 * time.Minute
	leaseDurationSeconds      = 40
	leaseRenewInterval        = 10 * time.Second
	maxNodeImages             = 50
)

// registerNode creates the Node object, or updates the existing one's
// labels, pod CIDR and status.
func (kl *Kubelet) registerNode(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	nodes := kl.client.CoreV1().Nodes()
	for {
		node, err := nodes.Get(ctx, kl.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			node = kl.initialNode()
			kl.setNodeStatus(ctx, node)
			created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
			if err == nil {
				logger.Info("Registered node", "node", kl.cfg.NodeName)
				return kl.ensurePodCIDR(ctx, created)
			}
			logger.Error(err, "Cannot register node; retrying")
		case err != nil:
			logger.Error(err, "Cannot read node; retrying")
		default:
			changed := false
			for k, v := range kl.initialNode().Labels {
				if node.Labels[k] != v {
					if node.Labels == nil {
						node.Labels = map[string]string{}
					}
					node.Labels[k], changed = v, true
				}
			}
			if changed {
				if node, err = nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil {
					logger.Error(err, "Cannot update node labels; retrying")
					break
				}
			}
			if err := kl.ensurePodCIDR(ctx, node); err != nil {
				return err
			}
			return kl.updateNodeStatus(ctx, true)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ensurePodCIDR sets spec.podCIDR when nothing (node IPAM) has.
func (kl *Kubelet) ensurePodCIDR(ctx context.Context, node *v1.Node) error {
	if node.Spec.PodCIDR != "" || kl.cfg.PodCIDR == "" {
		return nil
	}
	patch := fmt.Sprintf(`{"spec":{"podCIDR":%q,"podCIDRs":[%q]}}`, kl.cfg.PodCIDR, kl.cfg.PodCIDR)
	_, err := kl.client.CoreV1().Nodes().Patch(ctx, node.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("set pod CIDR of node %s: %w", node.Name, err)
	}
	return nil
}

func (kl *Kubelet) initialNode() *v1.Node {
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: kl.cfg.NodeName,
			Labels: map[string]string{
				v1.LabelHostname:          kl.cfg.NodeName,
				v1.LabelOSStable:          runtime.GOOS,
				v1.LabelArchStable:        runtime.GOARCH,
				"beta.kubernetes.io/os":   runtime.GOOS,
				"beta.kubernetes.io/arch": runtime.GOARCH,
			},
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		},
	}
}

// setNodeStatus fills in capacity, conditions, addresses and node info.
func (kl *Kubelet) setNodeStatus(ctx context.Context, node *v1.Node) {
	now := metav1.Now()
	capacity := kl.allocatable()
	capacity[v1.ResourceName("hugepages-1Gi")] = resource.MustParse("0")
	capacity[v1.ResourceName("hugepages-2Mi")] = resource.MustParse("0")
	node.Status.Capacity = capacity
	node.Status.Allocatable = capacity.DeepCopy()
	hostname, _ := os.Hostname()
	node.Status.Addresses = nil
	for _, ip := range kl.hostIPs {
		node.Status.Addresses = append(node.Status.Addresses, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	node.Status.Addresses = append(node.Status.Addresses, v1.NodeAddress{Type: v1.NodeHostName, Address: hostname})
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(kl.cfg.Port)
	node.Status.NodeInfo = kl.nodeInfo(ctx)

	ready, msg := kl.runtimeStatus(ctx)
	conds := []v1.NodeCondition{
		{Type: v1.NodeMemoryPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: v1.NodeDiskPressure, Status: v1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: v1.NodePIDPressure, Status: v1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
	}
	if ready {
		conds = append(conds, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"})
	} else {
		conds = append(conds, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionFalse, Reason: "KubeletNotReady", Message: msg})
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, old := range node.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = conds
	node.Status.Images = kl.nodeImages(ctx)
}

// nodeInfo is the system information of the node.
func (kl *Kubelet) nodeInfo(ctx context.Context) v1.NodeSystemInfo {
	info := v1.NodeSystemInfo{
		MachineID:       readTrimmed("/etc/machine-id"),
		SystemUUID:      strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid")),
		BootID:          readTrimmed("/proc/sys/kernel/random/boot_id"),
		KernelVersion:   readTrimmed("/proc/sys/kernel/osrelease"),
		OSImage:         osImage(),
		KubeletVersion:  kl.cfg.Version,
		OperatingSystem: runtime.GOOS,
		Architecture:    runtime.GOARCH,
	}
	if v, err := kl.runtime.Version(ctx, "v1"); err == nil {
		info.ContainerRuntimeVersion = fmt.Sprintf("%s://%s", v.RuntimeName, v.RuntimeVersion)
	}
	return info
}

// nodeImages lists the images on the node, biggest first, as upstream.
func (kl *Kubelet) nodeImages(ctx context.Context) []v1.ContainerImage {
	images, err := kl.images.ListImages(ctx, nil)
	if err != nil {
		return nil
	}
	var out []v1.ContainerImage
	for _, img := range images {
		names := append(append([]string{}, img.RepoDigests...), img.RepoTags...)
		if len(names) == 0 {
			continue
		}
		if len(names) > 5 {
			names = names[:5]
		}
		out = append(out, v1.ContainerImage{Names: names, SizeBytes: int64(img.Size)})
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].SizeBytes > out[j-1].SizeBytes; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	if len(out) > maxNodeImages {
		out = out[:maxNodeImages]
	}
	return out
}

// runNodeStatus posts the node status every 10 s when it changed, and at
// least every 5 minutes.
func (kl *Kubelet) runNodeStatus(ctx context.Context) {
	lastReport := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(nodeStatusUpdateFrequency):
		}
		force := time.Since(lastReport) > nodeStatusReportFrequency
		if err := kl.updateNodeStatus(ctx, force); err != nil {
			klog.FromContext(ctx).Error(err, "Cannot update node status")
			continue
		}
		if force {
			lastReport = time.Now()
		}
	}
}

// updateNodeStatus patches the node status when it changed (or force).
func (kl *Kubelet) updateNodeStatus(ctx context.Context, force bool) error {
	node, err := kl.client.CoreV1().Nodes().Get(ctx, kl.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	updated := node.DeepCopy()
	kl.setNodeStatus(ctx, updated)
	if !force && nodeStatusEqual(node.Status, updated.Status) {
		return nil
	}
	oldData, _ := json.Marshal(v1.Node{Status: node.Status})
	newData, _ := json.Marshal(v1.Node{Status: updated.Status})
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, v1.Node{})
	if err != nil {
		return err
	}
	_, err = kl.client.CoreV1().Nodes().PatchStatus(ctx, kl.cfg.NodeName, patch)
	return err
}

// nodeStatusEqual compares statuses ignoring heartbeat times.
func nodeStatusEqual(a, b v1.NodeStatus) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	for i := range a.Conditions {
		a.Conditions[i].LastHeartbeatTime = metav1.Time{}
	}
	for i := range b.Conditions {
		b.Conditions[i].LastHeartbeatTime = metav1.Time{}
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// runLease renews the node's Lease in kube-node-lease every 10 s.
func (kl *Kubelet) runLease(ctx context.Context) {
	leases := kl.client.CoordinationV1().Leases(v1.NamespaceNodeLease)
	for {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, kl.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			node, nerr := kl.client.CoreV1().Nodes().Get(ctx, kl.cfg.NodeName, metav1.GetOptions{})
			lease = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: kl.cfg.NodeName, Namespace: v1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(kl.cfg.NodeName),
					LeaseDurationSeconds: ptr.To(int32(leaseDurationSeconds)), RenewTime: &now},
			}
			if nerr == nil {
				lease.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
			}
			_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			lease.Spec.HolderIdentity = ptr.To(kl.cfg.NodeName)
			lease.Spec.LeaseDurationSeconds = ptr.To(int32(leaseDurationSeconds))
			_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if err != nil && ctx.Err() == nil {
			klog.FromContext(ctx).Error(err, "Cannot renew node lease")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(leaseRenewInterval):
		}
	}
}

func readTrimmed(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Unknown"
}

func numCPU() int { return runtime.NumCPU() }

// diskBytes is the size of the filesystem holding dir.
func diskBytes(dir string) int64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0
	}
	return int64(st.Blocks) * int64(st.Bsize)
}
