package simulator

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	ndffeatures "k8s.io/component-helpers/nodedeclaredfeatures/features"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
)

// NodeLeaseNamespace holds node Leases.
const NodeLeaseNamespace = "kube-node-lease"

// simNode is one simulated node.
type simNode struct {
	name   string
	ip     string
	podNet *net.IPNet

	mu sync.Mutex
	// lease is the last Lease written, so renewals need no GET.
	lease *coordinationv1.Lease
	// ips are the pod IPs in use, by pod UID.
	ips  map[types.UID]net.IP
	used map[string]bool
}

// nthSubnet returns the i-th /24 of cidr.
func nthSubnet(cidr string, i int) (*net.IPNet, error) {
	_, base, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	ones, bits := base.Mask.Size()
	if bits != 32 || ones > 24 || i >= 1<<(24-ones) {
		return nil, fmt.Errorf("%s has no /24 number %d", cidr, i)
	}
	n := binary.BigEndian.Uint32(base.IP.To4()) + uint32(i)<<8
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, n)
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}, nil
}

// nthIP returns the i-th address of cidr (skipping the network address).
func nthIP(cidr string, i int) (string, error) {
	_, base, err := net.ParseCIDR(cidr)
	if err != nil {
		return "", err
	}
	ones, bits := base.Mask.Size()
	if bits != 32 || i+1 >= 1<<(bits-ones) {
		return "", fmt.Errorf("%s has no address number %d", cidr, i)
	}
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(base.IP.To4())+uint32(i+1))
	return ip.String(), nil
}

// allocateIP gives the pod an address of the node's pod subnet (.1 is the
// gateway, as a bridge CNI would use it).
func (n *simNode) allocateIP(uid types.UID) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[uid]; ok {
		return ip.String(), nil
	}
	base := binary.BigEndian.Uint32(n.podNet.IP.To4())
	ones, bits := n.podNet.Mask.Size()
	size := uint32(1) << (bits - ones)
	for off := uint32(2); off < size-1; off++ {
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+off)
		if !n.used[ip.String()] {
			n.used[ip.String()] = true
			n.ips[uid] = ip
			return ip.String(), nil
		}
	}
	return "", fmt.Errorf("node %s: no free pod IP in %s", n.name, n.podNet)
}

// adoptIP records an IP already given to a pod (after a restart).
func (n *simNode) adoptIP(uid types.UID, ip string) {
	parsed := net.ParseIP(ip)
	if parsed == nil || !n.podNet.Contains(parsed) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.ips[uid] = parsed
	n.used[parsed.String()] = true
}

func (n *simNode) releaseIP(uid types.UID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ip, ok := n.ips[uid]; ok {
		delete(n.used, ip.String())
		delete(n.ips, uid)
	}
}

func (s *Simulator) nodeObject(i int, n *simNode) *v1.Node {
	labels := map[string]string{
		v1.LabelHostname:   n.name,
		v1.LabelOSStable:   "linux",
		v1.LabelArchStable: "amd64",
		SimulatedLabel:     "true",
	}
	if s.opts.Zones > 0 {
		labels[v1.LabelTopologyZone] = fmt.Sprintf("zone-%d", i%s.opts.Zones)
	}
	for k, v := range s.opts.Labels {
		labels[k] = v
	}
	capacity := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse(s.opts.CPU),
		v1.ResourceMemory:           resource.MustParse(s.opts.Memory),
		v1.ResourcePods:             resource.MustParse(s.opts.Pods),
		v1.ResourceEphemeralStorage: resource.MustParse(s.opts.EphemeralStorage),
	}
	now := metav1.Now()
	return &v1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.name,
			Labels:      labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"},
		},
		Spec: v1.NodeSpec{Taints: s.taints},
		Status: v1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity.DeepCopy(),
			Phase:       v1.NodeRunning,
			Conditions:  nodeConditions(now),
			Addresses: []v1.NodeAddress{
				{Type: v1.NodeInternalIP, Address: n.ip},
				{Type: v1.NodeHostName, Address: n.name},
			},
			DaemonEndpoints:  v1.NodeDaemonEndpoints{KubeletEndpoint: v1.DaemonEndpoint{Port: 10250}},
			DeclaredFeatures: declaredFeatures(),
			NodeInfo: v1.NodeSystemInfo{
				MachineID:               string(uuid.NewUUID()),
				SystemUUID:              string(uuid.NewUUID()),
				BootID:                  string(uuid.NewUUID()),
				KernelVersion:           "simulated",
				OSImage:                 "skiff simulated node",
				ContainerRuntimeVersion: "simulated://1.0",
				KubeletVersion:          "v1.37.2",
				KubeProxyVersion:        "v1.37.2",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
			},
		},
	}
}

// declaredFeatures are every node feature skiff's scheduler knows: a
// simulated node can run anything.
func declaredFeatures() []string {
	var out []string
	for _, f := range ndffeatures.AllFeatures {
		out = append(out, f.Name())
	}
	sort.Strings(out)
	return out
}

func nodeConditions(now metav1.Time) []v1.NodeCondition {
	cond := func(t v1.NodeConditionType, s v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		return v1.NodeCondition{Type: t, Status: s, LastHeartbeatTime: now, LastTransitionTime: now, Reason: reason, Message: msg}
	}
	return []v1.NodeCondition{
		cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"),
	}
}

// registerNode creates the node, or takes over an existing one of that
// name (refreshing its status to Ready).
func (s *Simulator) registerNode(ctx context.Context, i int, n *simNode) error {
	want := s.nodeObject(i, n)
	cur, err := s.client.CoreV1().Nodes().Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		if cur, err = s.client.CoreV1().Nodes().Get(ctx, n.name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("get node %s: %w", n.name, err)
		}
		cur = cur.DeepCopy()
		cur.Status = want.Status
		if cur, err = s.client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node %s status: %w", n.name, err)
		}
	} else if err != nil {
		return fmt.Errorf("create node %s: %w", n.name, err)
	}
	// The status subresource is authoritative; create may drop status.
	if len(cur.Status.Conditions) == 0 {
		cur = cur.DeepCopy()
		cur.Status = want.Status
		if cur, err = s.client.CoreV1().Nodes().UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("update node %s status: %w", n.name, err)
		}
	}
	if cur.Spec.PodCIDR != "" {
		if _, pn, err := net.ParseCIDR(cur.Spec.PodCIDR); err == nil {
			n.podNet = pn
		}
	}
	return s.renewLease(ctx, n, cur.UID)
}

// renewLease creates or renews the node's Lease.
func (s *Simulator) renewLease(ctx context.Context, n *simNode, nodeUID types.UID) error {
	leases := s.client.CoordinationV1().Leases(NodeLeaseNamespace)
	now := metav1.NewMicroTime(time.Now())
	n.mu.Lock()
	lease := n.lease
	n.mu.Unlock()
	if lease == nil {
		l, err := leases.Get(ctx, n.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: n.name, Namespace: NodeLeaseNamespace},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(n.name),
					LeaseDurationSeconds: ptr.To(int32(s.opts.LeaseDuration.Seconds())),
					RenewTime:            &now,
				},
			}
			if nodeUID != "" {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.name, UID: nodeUID}}
			}
			created, err := leases.Create(ctx, l, metav1.CreateOptions{})
			if err != nil {
				return fmt.Errorf("create lease %s: %w", n.name, err)
			}
			n.mu.Lock()
			n.lease = created
			n.mu.Unlock()
			return nil
		case err != nil:
			return fmt.Errorf("get lease %s: %w", n.name, err)
		}
		lease = l
	}
	l := lease.DeepCopy()
	l.Spec.RenewTime = &now
	l.Spec.HolderIdentity = ptr.To(n.name)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(s.opts.LeaseDuration.Seconds()))
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		// A conflict or a deleted lease: start over next time.
		n.mu.Lock()
		n.lease = nil
		n.mu.Unlock()
		return fmt.Errorf("renew lease %s: %w", n.name, err)
	}
	n.mu.Lock()
	n.lease = updated
	n.mu.Unlock()
	return nil
}

// heartbeat renews every node's Lease each LeaseRenewInterval and posts
// their status each NodeStatusReportFrequency, spreading the writes evenly
// over the interval instead of bursting them.
func (s *Simulator) heartbeat(ctx context.Context) {
	const tick = 100 * time.Millisecond
	renewTicks := int(s.opts.LeaseRenewInterval / tick)
	statusTicks := int(s.opts.NodeStatusReportFrequency / tick)
	renewTicks, statusTicks = max(renewTicks, 1), max(statusTicks, 1)
	t := time.NewTicker(tick)
	defer t.Stop()
	sem := make(chan struct{}, s.opts.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for step := 0; ; step++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, n := range s.nodes {
			renew := i%renewTicks == step%renewTicks
			status := i%statusTicks == step%statusTicks && step > 0
			if !renew && !status {
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(n *simNode) {
				defer func() { <-sem; wg.Done() }()
				if renew {
					if err := s.renewLease(ctx, n, ""); err != nil && ctx.Err() == nil {
						klog.V(2).InfoS("Lease renewal failed; retrying next interval", "node", n.name, "err", err)
					}
				}
				if status {
					if err := s.postNodeStatus(ctx, n); err != nil && ctx.Err() == nil {
						klog.V(2).InfoS("Node status update failed", "node", n.name, "err", err)
					}
				}
			}(n)
		}
	}
}

// postNodeStatus refreshes the heartbeat times of the node's conditions.
func (s *Simulator) postNodeStatus(ctx context.Context, n *simNode) error {
	node, err := s.nodeLister.Get(n.name)
	if err != nil {
		return err
	}
	node = node.DeepCopy()
	now := metav1.Now()
	for i := range node.Status.Conditions {
		node.Status.Conditions[i].LastHeartbeatTime = now
	}
	if len(node.Status.Conditions) == 0 {
		node.Status.Conditions = nodeConditions(now)
	}
	_, err = s.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}
