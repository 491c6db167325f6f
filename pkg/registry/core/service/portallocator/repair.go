package portallocator

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// leakDetectionsBeforeRelease is how many consecutive passes must find a
// port taken in the bitmap but used by no Service before it is freed: a
// Service being created holds its port for a moment before it is stored.
const leakDetectionsBeforeRelease = 3

// Repair rebuilds the NodePort bitmap from the Services: ports used by a
// Service but missing from the bitmap are recorded again, ports in the bitmap
// that no Service uses are freed (after leakDetectionsBeforeRelease passes),
// and duplicates or out-of-range ports are reported as events. The first
// pass also writes the bitmap when none exists, which the allocator needs
// before it hands out ports.
type Repair struct {
	interval  time.Duration
	services  corev1client.ServicesGetter
	portRange utilnet.PortRange
	store     RangeStore
	recorder  events.EventRecorder
	// leaks counts, per suspected leaked port, the passes left before it is
	// freed. Only Run's goroutine touches it.
	leaks map[int]int
}

// NewRepair returns a repair loop over the Services services lists.
func NewRepair(interval time.Duration, services corev1client.ServicesGetter, recorder events.EventRecorder, portRange utilnet.PortRange, store RangeStore) *Repair {
	return &Repair{
		interval:  interval,
		services:  services,
		portRange: portRange,
		store:     store,
		recorder:  recorder,
		leaks:     map[int]int{},
	}
}

// Run repairs every interval until ctx ends; onFirstSuccess is called after
// the first pass that succeeded.
func (r *Repair) Run(ctx context.Context, onFirstSuccess func()) {
	first := true
	wait.UntilWithContext(ctx, func(ctx context.Context) {
		if err := r.RunOnce(ctx); err != nil {
			klog.ErrorS(err, "NodePort repair failed")
			return
		}
		if first {
			first = false
			onFirstSuccess()
		}
	}, r.interval)
}

// RunOnce makes one repair pass, retrying when another writer changed the
// bitmap meanwhile.
func (r *Repair) RunOnce(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error { return r.runOnce(ctx) })
}

func (r *Repair) runOnce(ctx context.Context) error {
	snapshot, err := r.store.Get(ctx)
	if err != nil {
		return fmt.Errorf("read the NodePort allocations: %w", err)
	}
	stored, err := storedPorts(snapshot, r.portRange)
	if err != nil {
		return err
	}

	// The Services are listed after the bitmap is read. A port taken after
	// that read makes the final compare-and-swap fail (and the pass retry);
	// a port taken before it by a Service not stored yet looks leaked, and
	// leaks are freed only after several passes.
	list, err := r.services.Services(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services: %w", err)
	}

	rebuilt := newBitmap(r.portRange.Size)
	for i := range list.Items {
		svc := &list.Items[i]
		for _, port := range serviceNodePorts(svc) {
			if !r.portRange.Contains(port) {
				r.event(svc, "PortOutOfRange", "Port %d is not within the port range %s; please recreate service", port, r.portRange.String())
				klog.ErrorS(nil, "NodePort of a Service is outside the range; please recreate the Service", "service", klog.KObj(svc), "port", port, "range", r.portRange.String())
				continue
			}
			if !rebuilt.set(port - r.portRange.Base) {
				r.event(svc, "PortAlreadyAllocated", "Port %d was assigned to multiple services; please recreate service", port)
				klog.ErrorS(nil, "NodePort is used by several Services; please recreate the Service", "service", klog.KObj(svc), "port", port)
				continue
			}
			if stored.Has(port) {
				stored.Delete(port)
			} else {
				r.event(svc, "PortNotAllocated", "Port %d is not allocated; repairing", port)
				klog.InfoS("NodePort of a Service was not recorded as allocated; repairing", "service", klog.KObj(svc), "port", port)
			}
			delete(r.leaks, port)
		}
	}

	// What is left in stored belongs to no Service.
	for _, port := range sets.List(stored) {
		left, seen := r.leaks[port]
		if !seen {
			left = leakDetectionsBeforeRelease - 1
			klog.InfoS("NodePort may have leaked; flagging it for clean up", "port", port)
		}
		if left > 0 {
			r.leaks[port] = left - 1
			if r.portRange.Contains(port) {
				rebuilt.set(port - r.portRange.Base)
			}
			continue
		}
		delete(r.leaks, port)
		klog.InfoS("NodePort leaked; releasing it", "port", port)
	}

	rv := snapshot.ResourceVersion
	return r.store.Update(ctx, func(existing *corev1.RangeAllocation) (*corev1.RangeAllocation, error) {
		if existing.ResourceVersion != rv {
			return nil, apierrors.NewConflict(NodePortAllocationsResource, "", errors.New("the NodePort allocations changed during the repair"))
		}
		out := existing.DeepCopy()
		out.Range = r.portRange.String()
		out.Data = rebuilt.bytes()
		return out, nil
	})
}

func (r *Repair) event(svc *corev1.Service, reason, note string, args ...interface{}) {
	if r.recorder != nil {
		r.recorder.Eventf(svc, nil, corev1.EventTypeWarning, reason, "PortAllocation", note, args...)
	}
}

// storedPorts decodes the ports of a stored bitmap, which may be for another
// range than the current one (the flag changed).
func storedPorts(snapshot *corev1.RangeAllocation, current utilnet.PortRange) (sets.Set[int], error) {
	ports := sets.New[int]()
	if snapshot.ResourceVersion == "" || snapshot.Range == "" {
		return ports, nil
	}
	pr, err := utilnet.ParsePortRange(snapshot.Range)
	if err != nil {
		return nil, fmt.Errorf("stored NodePort range %q: %w", snapshot.Range, err)
	}
	restoreBitmap(pr.Size, snapshot.Data).forEach(func(offset int) { ports.Insert(pr.Base + offset) })
	return ports, nil
}

// serviceNodePorts are the node ports a Service holds, including its health
// check port. A port repeated with the same protocol appears twice (so it is
// reported as a duplicate); a port shared by TCP and UDP counts once.
func serviceNodePorts(svc *corev1.Service) []int {
	var out []int
	protocols := map[int]sets.Set[corev1.Protocol]{}
	for _, p := range svc.Spec.Ports {
		port := int(p.NodePort)
		if port == 0 {
			continue
		}
		seen, ok := protocols[port]
		switch {
		case !ok:
			protocols[port] = sets.New(p.Protocol)
			out = append(out, port)
		case seen.Has(p.Protocol):
			out = append(out, port)
		default:
			seen.Insert(p.Protocol)
		}
	}
	if hc := int(svc.Spec.HealthCheckNodePort); hc != 0 {
		if seen, ok := protocols[hc]; !ok || seen.Has(corev1.ProtocolTCP) {
			out = append(out, hc)
		}
	}
	return out
}
