package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/klog/v2"
	v1service "k8s.io/kubernetes/pkg/api/v1/service"
	"k8s.io/kubernetes/pkg/apis/core"
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	netutils "k8s.io/utils/net"

	"github.com/skiff-project/skiff/pkg/api/rules"
	"github.com/skiff-project/skiff/pkg/registry/core/service/ipallocator"
	"github.com/skiff-project/skiff/pkg/registry/core/service/portallocator"
)

// releaseTimeout bounds the releases done after a request finished: they
// must not depend on the request's context, which may be gone.
const releaseTimeout = 30 * time.Second

var serviceKind = schema.GroupKind{Kind: "Service"}

// ipAllocator is what the Service storage needs from a ClusterIP allocator
// (ipallocator.Allocator).
type ipAllocator interface {
	Allocate(ctx context.Context, svc *corev1.Service, ip net.IP, dryRun bool) error
	AllocateNext(ctx context.Context, svc *corev1.Service, dryRun bool) (net.IP, error)
	Release(ctx context.Context, ip net.IP) error
}

// allocators hold the ClusterIP allocator of each family the cluster serves
// (skiff serves one: --service-cluster-ip-range) and the NodePort allocator.
// The logic is upstream's (pkg/registry/core/service/storage/alloc.go),
// written for the v1 types.
type allocators struct {
	defaultFamily corev1.IPFamily
	ips           map[corev1.IPFamily]ipAllocator
	nodePorts     *portallocator.Allocator
}

// transaction is what a Service write does once it knows whether it was
// stored: keep or undo the allocations, release what is no longer used.
type transaction interface {
	Commit()
	Revert()
}

type transactions []transaction

func (t transactions) Commit() {
	for _, x := range t {
		x.Commit()
	}
}

func (t transactions) Revert() {
	for _, x := range t {
		x.Revert()
	}
}

type callbacks struct{ commit, revert func() }

func (c callbacks) Commit() {
	if c.commit != nil {
		c.commit()
	}
}

func (c callbacks) Revert() {
	if c.revert != nil {
		c.revert()
	}
}

func releaseContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), releaseTimeout)
}

// allocateCreate fills the IP family fields and allocates the ClusterIPs and
// NodePorts of a new Service.
func (al *allocators) allocateCreate(ctx context.Context, svc *corev1.Service, dryRun bool) (transaction, error) {
	var result transactions
	ok := false
	defer func() {
		if !ok {
			result.Revert()
		}
	}()
	if err := al.initIPFamilyFields(svc, nil); err != nil {
		return nil, err
	}
	txn, err := al.txnAllocClusterIPs(ctx, svc, dryRun)
	if err != nil {
		return nil, err
	}
	result = append(result, txn)
	txn, err = al.txnAllocNodePorts(ctx, svc, dryRun)
	if err != nil {
		return nil, err
	}
	result = append(result, txn)
	ok = true
	return result, nil
}

// allocateUpdate allocates what an update needs and defers the releases to
// its commit.
func (al *allocators) allocateUpdate(ctx context.Context, svc, oldSvc *corev1.Service, dryRun bool) (transaction, error) {
	var result transactions
	ok := false
	defer func() {
		if !ok {
			result.Revert()
		}
	}()
	if err := al.initIPFamilyFields(svc, oldSvc); err != nil {
		return nil, err
	}
	txn, err := al.txnUpdateClusterIPs(ctx, svc, oldSvc, dryRun)
	if err != nil {
		return nil, err
	}
	result = append(result, txn)
	txn, err = al.txnUpdateNodePorts(ctx, svc, oldSvc, dryRun)
	if err != nil {
		return nil, err
	}
	result = append(result, txn)
	ok = true
	return result, nil
}

// initIPFamilyFields defaults ipFamilyPolicy and ipFamilies as upstream does
// for the families this cluster has, and rejects requests it cannot serve
// (dual-stack on a single-stack cluster, a family it does not have).
func (al *allocators) initIPFamilyFields(svc, oldSvc *corev1.Service) error {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// A PreferDualStack Service is not upgraded or downgraded by a cluster
	// change alone.
	if isMatchingPreferDualStackClusterIPFields(svc, oldSvc) {
		return nil
	}

	if svc.Spec.IPFamilyPolicy == nil {
		var policy corev1.IPFamilyPolicy
		switch {
		case oldSvc != nil && oldSvc.Spec.IPFamilyPolicy != nil:
			policy = *oldSvc.Spec.IPFamilyPolicy
		case svc.Spec.ClusterIP == corev1.ClusterIPNone && len(svc.Spec.Selector) == 0:
			// Headless without selector: its endpoints may be of both.
			policy = corev1.IPFamilyPolicyRequireDualStack
		default:
			policy = corev1.IPFamilyPolicySingleStack
		}
		svc.Spec.IPFamilyPolicy = &policy
	}

	if el := validateClusterIPsRelatedFields(svc, oldSvc); len(el) != 0 {
		return apierrors.NewInvalid(serviceKind, svc.Name, el)
	}

	var el field.ErrorList
	policyPath := field.NewPath("spec", "ipFamilyPolicy")
	if oldSvc != nil {
		if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
			// Unchanged clusterIPs and ipFamilies with SingleStack mean:
			// drop the secondary.
			if sameClusterIPs(oldSvc, svc) && len(svc.Spec.ClusterIPs) > 1 {
				svc.Spec.ClusterIPs = svc.Spec.ClusterIPs[0:1]
			}
			if sameIPFamilies(oldSvc, svc) && len(svc.Spec.IPFamilies) > 1 {
				svc.Spec.IPFamilies = svc.Spec.IPFamilies[0:1]
			}
		} else {
			if len(svc.Spec.ClusterIPs) != 0 && len(svc.Spec.ClusterIPs) < len(oldSvc.Spec.ClusterIPs) {
				el = append(el, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'SingleStack' to release the secondary cluster IP"))
			}
			if len(svc.Spec.IPFamilies) != 0 && len(svc.Spec.IPFamilies) < len(oldSvc.Spec.IPFamilies) {
				el = append(el, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'SingleStack' to release the secondary IP family"))
			}
		}
	}
	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack {
		if len(svc.Spec.ClusterIPs) == 2 {
			el = append(el, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"))
		}
		if len(svc.Spec.IPFamilies) == 2 {
			el = append(el, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"))
		}
	}

	// Families follow the requested IPs.
	for i, ip := range svc.Spec.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			break
		}
		family := familyOf(ip)
		if i < len(svc.Spec.IPFamilies) {
			continue
		}
		if _, ok := al.ips[family]; !ok {
			el = append(el, field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), svc.Spec.ClusterIPs, fmt.Sprintf("%s is not configured on this cluster", family)))
			continue
		}
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, family)
	}
	if len(el) > 0 {
		return apierrors.NewInvalid(serviceKind, svc.Name, el)
	}

	// Headless without selector may name families the cluster lacks.
	if svc.Spec.ClusterIP == corev1.ClusterIPNone && len(svc.Spec.Selector) == 0 {
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{al.defaultFamily}
		}
		if len(svc.Spec.IPFamilies) < 2 && *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
			svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, otherFamily(svc.Spec.IPFamilies[0]))
		}
		return nil
	}

	if *svc.Spec.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack && len(al.ips) < 2 {
		el = append(el, field.Invalid(policyPath, svc.Spec.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
	}
	for i, family := range svc.Spec.IPFamilies {
		if _, ok := al.ips[family]; !ok {
			el = append(el, field.Invalid(field.NewPath("spec", "ipFamilies").Index(i), family, "not configured on this cluster"))
		}
	}
	if len(el) > 0 {
		return apierrors.NewInvalid(serviceKind, svc.Name, el)
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{al.defaultFamily}
	}
	if *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack && len(svc.Spec.IPFamilies) == 1 && len(al.ips) == 2 {
		svc.Spec.IPFamilies = append(svc.Spec.IPFamilies, otherFamily(svc.Spec.IPFamilies[0]))
	}
	return nil
}

// validateClusterIPsRelatedFields runs upstream's pre-validation of the
// interlinked IP fields on the internal form.
func validateClusterIPsRelatedFields(svc, oldSvc *corev1.Service) field.ErrorList {
	in, err := rules.ToInternal(svc)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	var oldIn *core.Service
	if oldSvc != nil {
		o, err := rules.ToInternal(oldSvc)
		if err != nil {
			return field.ErrorList{field.InternalError(nil, err)}
		}
		oldIn = o.(*core.Service)
	}
	return corevalidation.ValidateServiceClusterIPsRelatedFields(in.(*core.Service), oldIn)
}

func (al *allocators) txnAllocClusterIPs(ctx context.Context, svc *corev1.Service, dryRun bool) (transaction, error) {
	allocated, err := al.allocClusterIPs(ctx, svc, dryRun)
	if err != nil {
		return nil, err
	}
	return callbacks{
		revert: func() {
			if !dryRun {
				al.releaseIPsLogged(svc, allocated, "failed service create")
			}
		},
		commit: func() {
			if !dryRun && len(allocated) > 0 {
				klog.InfoS("Allocated ClusterIPs", "service", klog.KObj(svc), "clusterIPs", allocated)
			}
		},
	}, nil
}

// allocClusterIPs allocates every family's ClusterIP the Service lacks (or
// asks for) and writes them into clusterIP/clusterIPs.
func (al *allocators) allocClusterIPs(ctx context.Context, svc *corev1.Service, dryRun bool) (map[corev1.IPFamily]string, error) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, nil
	}
	if len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone {
		return nil, nil
	}
	if svc.Spec.ClusterIPs == nil {
		svc.Spec.ClusterIPs = make([]string, 0, len(svc.Spec.IPFamilies))
	}
	toAlloc := map[corev1.IPFamily]string{}
	for i, family := range svc.Spec.IPFamilies {
		if i >= len(svc.Spec.ClusterIPs) {
			svc.Spec.ClusterIPs = append(svc.Spec.ClusterIPs, "")
		}
		toAlloc[family] = svc.Spec.ClusterIPs[i]
	}
	allocated, err := al.allocIPs(ctx, svc, toAlloc, dryRun)
	if err != nil {
		return allocated, err
	}
	for family, ip := range allocated {
		for i, f := range svc.Spec.IPFamilies {
			if f == family {
				svc.Spec.ClusterIPs[i] = ip
				if i == 0 {
					svc.Spec.ClusterIP = ip
				}
			}
		}
	}
	return allocated, nil
}

// allocIPs allocates the given IP of each family ("" for any). On failure
// it returns what it had allocated, for the caller to release.
func (al *allocators) allocIPs(ctx context.Context, svc *corev1.Service, toAlloc map[corev1.IPFamily]string, dryRun bool) (map[corev1.IPFamily]string, error) {
	allocated := map[corev1.IPFamily]string{}
	clusterIPsPath := field.NewPath("spec", "clusterIPs")
	for family, ip := range toAlloc {
		alloc, ok := al.ips[family]
		if !ok {
			return allocated, apierrors.NewInternalError(fmt.Errorf("no ClusterIP allocator for %s", family))
		}
		if ip == "" {
			got, err := alloc.AllocateNext(ctx, svc, dryRun)
			if err != nil {
				if errors.Is(err, ipallocator.ErrFull) {
					return allocated, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP for Service %q: %w", svc.Name, err))
				}
				el := field.ErrorList{field.Invalid(clusterIPsPath, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP: %v", err))}
				return allocated, apierrors.NewInvalid(serviceKind, svc.Name, el)
			}
			allocated[family] = got.String()
			continue
		}
		parsed := netutils.ParseIPSloppy(ip)
		if parsed == nil {
			return allocated, apierrors.NewInternalError(fmt.Errorf("failed to parse service IP %q", ip))
		}
		if err := alloc.Allocate(ctx, svc, parsed, dryRun); err != nil {
			el := field.ErrorList{field.Invalid(clusterIPsPath, svc.Spec.ClusterIPs, fmt.Sprintf("failed to allocate IP %v: %v", ip, err))}
			return allocated, apierrors.NewInvalid(serviceKind, svc.Name, el)
		}
		allocated[family] = ip
	}
	return allocated, nil
}

// releaseIPs releases one IP per family.
func (al *allocators) releaseIPs(toRelease map[corev1.IPFamily]string) (map[corev1.IPFamily]string, error) {
	released := map[corev1.IPFamily]string{}
	ctx, cancel := releaseContext()
	defer cancel()
	for family, ip := range toRelease {
		alloc, ok := al.ips[family]
		if !ok {
			// The cluster served this family once and no longer does.
			klog.InfoS("Not releasing ClusterIP because its family is not served", "clusterIP", ip, "family", family)
			continue
		}
		parsed := netutils.ParseIPSloppy(ip)
		if parsed == nil {
			return released, fmt.Errorf("failed to parse service IP %q", ip)
		}
		if err := alloc.Release(ctx, parsed); err != nil {
			return released, err
		}
		released[family] = ip
	}
	return released, nil
}

func (al *allocators) releaseIPsLogged(svc *corev1.Service, toRelease map[corev1.IPFamily]string, after string) {
	if len(toRelease) == 0 {
		return
	}
	if released, err := al.releaseIPs(toRelease); err != nil {
		klog.ErrorS(err, "Failed to release ClusterIPs after "+after, "service", klog.KObj(svc), "shouldRelease", toRelease, "released", released)
	}
}

func (al *allocators) txnUpdateClusterIPs(ctx context.Context, svc, oldSvc *corev1.Service, dryRun bool) (transaction, error) {
	allocated, released, err := al.updateClusterIPs(ctx, svc, oldSvc, dryRun)
	if err != nil {
		return nil, err
	}
	// Success releases what the update dropped; failure gives back what it
	// took and keeps what it would have dropped.
	return callbacks{
		commit: func() {
			if dryRun {
				return
			}
			if len(allocated) > 0 {
				klog.InfoS("Allocated ClusterIPs", "service", klog.KObj(svc), "clusterIPs", allocated)
			}
			al.releaseIPsLogged(svc, released, "successful service update")
		},
		revert: func() {
			if !dryRun {
				al.releaseIPsLogged(svc, allocated, "failed service update")
			}
		},
	}, nil
}

// updateClusterIPs handles type changes and single/dual-stack changes. It
// allocates what the new Service needs and returns what to release once the
// update is stored.
func (al *allocators) updateClusterIPs(ctx context.Context, svc, oldSvc *corev1.Service, dryRun bool) (allocated, toRelease map[corev1.IPFamily]string, err error) {
	if isMatchingPreferDualStackClusterIPFields(svc, oldSvc) {
		return nil, nil, nil
	}
	// From ExternalName to a type with ClusterIPs: allocate them all.
	if oldSvc.Spec.Type == corev1.ServiceTypeExternalName && svc.Spec.Type != corev1.ServiceTypeExternalName {
		allocated, err := al.allocClusterIPs(ctx, svc, dryRun)
		return allocated, nil, err
	}
	if len(oldSvc.Spec.ClusterIPs) > 0 && oldSvc.Spec.ClusterIPs[0] == corev1.ClusterIPNone {
		return nil, nil, nil
	}
	// To ExternalName: release them all.
	if oldSvc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.Type == corev1.ServiceTypeExternalName {
		toRelease = map[corev1.IPFamily]string{}
		for i, family := range oldSvc.Spec.IPFamilies {
			if i < len(oldSvc.Spec.ClusterIPs) {
				toRelease[family] = oldSvc.Spec.ClusterIPs[i]
			}
		}
		return nil, toRelease, nil
	}
	upgraded := len(oldSvc.Spec.IPFamilies) == 1 && len(svc.Spec.IPFamilies) == 2
	downgraded := len(oldSvc.Spec.IPFamilies) == 2 && len(svc.Spec.IPFamilies) == 1
	switch {
	case upgraded:
		if len(svc.Spec.ClusterIPs) < 2 {
			svc.Spec.ClusterIPs = append(svc.Spec.ClusterIPs, "")
		}
		secondary := svc.Spec.IPFamilies[1]
		allocated, err := al.allocIPs(ctx, svc, map[corev1.IPFamily]string{secondary: svc.Spec.ClusterIPs[1]}, dryRun)
		if err == nil {
			svc.Spec.ClusterIPs[1] = allocated[secondary]
		}
		return allocated, nil, err
	case downgraded:
		return nil, map[corev1.IPFamily]string{oldSvc.Spec.IPFamilies[1]: oldSvc.Spec.ClusterIPs[1]}, nil
	}
	return nil, nil, nil
}

func (al *allocators) txnAllocNodePorts(ctx context.Context, svc *corev1.Service, dryRun bool) (transaction, error) {
	op := portallocator.StartOperation(al.nodePorts, dryRun)
	txn := nodePortTransaction(svc, op)
	if hasNodePortType(svc) {
		if err := initNodePorts(ctx, svc, op); err != nil {
			txn.Revert()
			return nil, err
		}
	}
	if v1service.NeedsHealthCheck(svc) {
		if err := allocHealthCheckNodePort(ctx, svc, op); err != nil {
			txn.Revert()
			return nil, apierrors.NewInternalError(err)
		}
	}
	return txn, nil
}

func nodePortTransaction(svc *corev1.Service, op *portallocator.Operation) transaction {
	return callbacks{
		commit: func() {
			ctx, cancel := releaseContext()
			defer cancel()
			if err := op.Commit(ctx); err != nil {
				klog.ErrorS(err, "Failed to release NodePorts after a successful service write", "service", klog.KObj(svc))
			}
		},
		revert: func() {
			ctx, cancel := releaseContext()
			defer cancel()
			if err := op.Finish(ctx); err != nil {
				klog.ErrorS(err, "Failed to release NodePorts after a failed service write", "service", klog.KObj(svc))
			}
		},
	}
}

// initNodePorts allocates the NodePorts of a new Service: the requested ones
// and, when the type wants them, one per port without. Ports of the same
// number share a NodePort.
func initNodePorts(ctx context.Context, svc *corev1.Service, op *portallocator.Operation) error {
	byServicePort := map[int32]int32{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.NodePort == 0 && !shouldAllocateNodePorts(svc) {
			// Don't allocate new ports, but do honour requested ones.
			continue
		}
		allocated := byServicePort[sp.Port]
		if allocated == 0 {
			if requested := requestedNodePort(sp.Port, svc.Spec.Ports); requested != 0 {
				if err := op.Allocate(ctx, int(requested)); err != nil {
					return nodePortInvalid(svc, i, requested, err)
				}
				sp.NodePort = requested
			} else {
				port, err := op.AllocateNext(ctx)
				if err != nil {
					return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
				}
				sp.NodePort = int32(port)
			}
			byServicePort[sp.Port] = sp.NodePort
			continue
		}
		if sp.NodePort != allocated {
			if sp.NodePort == 0 {
				sp.NodePort = allocated
			} else if err := op.Allocate(ctx, int(sp.NodePort)); err != nil {
				return nodePortInvalid(svc, i, sp.NodePort, err)
			}
		}
	}
	return nil
}

func nodePortInvalid(svc *corev1.Service, i int, port int32, err error) error {
	el := field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), port, err.Error())}
	return apierrors.NewInvalid(serviceKind, svc.Name, el)
}

// requestedNodePort is the NodePort some entry of ports asks for port.
func requestedNodePort(port int32, ports []corev1.ServicePort) int32 {
	for _, p := range ports {
		if p.Port == port && p.NodePort != 0 {
			return p.NodePort
		}
	}
	return 0
}

func allocHealthCheckNodePort(ctx context.Context, svc *corev1.Service, op *portallocator.Operation) error {
	if port := svc.Spec.HealthCheckNodePort; port != 0 {
		if err := op.Allocate(ctx, int(port)); err != nil {
			return fmt.Errorf("failed to allocate requested HealthCheck NodePort %v: %v", port, err)
		}
		return nil
	}
	port, err := op.AllocateNext(ctx)
	if err != nil {
		return fmt.Errorf("failed to allocate a HealthCheck NodePort %v: %v", port, err)
	}
	svc.Spec.HealthCheckNodePort = int32(port)
	return nil
}

func (al *allocators) txnUpdateNodePorts(ctx context.Context, svc, oldSvc *corev1.Service, dryRun bool) (transaction, error) {
	op := portallocator.StartOperation(al.nodePorts, dryRun)
	txn := nodePortTransaction(svc, op)
	// From NodePort/LoadBalancer to ClusterIP/ExternalName: release them.
	if hasNodePortType(oldSvc) && (svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Type == corev1.ServiceTypeClusterIP) {
		for _, port := range collectNodePorts(oldSvc) {
			op.ReleaseDeferred(int(port))
		}
	}
	if hasNodePortType(svc) {
		if err := updateNodePorts(ctx, svc, oldSvc, op); err != nil {
			txn.Revert()
			return nil, err
		}
	}
	needed, needs := v1service.NeedsHealthCheck(oldSvc), v1service.NeedsHealthCheck(svc)
	switch {
	case !needed && needs:
		if err := allocHealthCheckNodePort(ctx, svc, op); err != nil {
			txn.Revert()
			return nil, apierrors.NewInternalError(err)
		}
	case needed && !needs:
		op.ReleaseDeferred(int(oldSvc.Spec.HealthCheckNodePort))
	}
	return txn, nil
}

// updateNodePorts allocates the new NodePorts of an updated Service and
// defers the release of the ones it no longer has.
func updateNodePorts(ctx context.Context, svc, oldSvc *corev1.Service, op *portallocator.Operation) error {
	oldPorts := sets.New(collectNodePorts(oldSvc)...)
	type protoPort struct {
		protocol corev1.Protocol
		port     int32
	}
	seen := sets.New[protoPort]()
	taken := sets.New[int32]()
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		if sp.NodePort == 0 && !shouldAllocateNodePorts(svc) {
			continue
		}
		if sp.NodePort != 0 {
			if !oldPorts.Has(sp.NodePort) && !taken.Has(sp.NodePort) {
				if err := op.Allocate(ctx, int(sp.NodePort)); err != nil {
					return nodePortInvalid(svc, i, sp.NodePort, err)
				}
				taken.Insert(sp.NodePort)
			}
		} else {
			port, err := op.AllocateNext(ctx)
			if err != nil {
				return apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
			}
			sp.NodePort = int32(port)
		}
		key := protoPort{sp.Protocol, sp.NodePort}
		if seen.Has(key) {
			return fmt.Errorf("duplicate nodePort: %v", key)
		}
		seen.Insert(key)
	}
	newPorts := sets.New(collectNodePorts(svc)...)
	for _, port := range collectNodePorts(oldSvc) {
		if !newPorts.Has(port) {
			op.ReleaseDeferred(int(port))
		}
	}
	return nil
}

// releaseAllocatedResources frees everything a deleted Service held.
func (al *allocators) releaseAllocatedResources(svc *corev1.Service) {
	al.releaseClusterIPs(svc)
	ctx, cancel := releaseContext()
	defer cancel()
	for _, port := range collectNodePorts(svc) {
		if err := al.nodePorts.Release(ctx, int(port)); err != nil {
			// The repair loop frees it later.
			klog.ErrorS(err, "Failed to release NodePort of a deleted Service", "service", klog.KObj(svc), "nodePort", port)
		}
	}
	if v1service.NeedsHealthCheck(svc) && svc.Spec.HealthCheckNodePort > 0 {
		if err := al.nodePorts.Release(ctx, int(svc.Spec.HealthCheckNodePort)); err != nil {
			klog.ErrorS(err, "Failed to release health check NodePort of a deleted Service", "service", klog.KObj(svc), "nodePort", svc.Spec.HealthCheckNodePort)
		}
	}
}

func (al *allocators) releaseClusterIPs(svc *corev1.Service) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return
	}
	if len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone {
		return
	}
	toRelease := map[corev1.IPFamily]string{}
	for _, ip := range svc.Spec.ClusterIPs {
		toRelease[familyOf(ip)] = ip
	}
	al.releaseIPsLogged(svc, toRelease, "service delete")
}

func shouldAllocateNodePorts(svc *corev1.Service) bool {
	switch svc.Spec.Type {
	case corev1.ServiceTypeNodePort:
		return true
	case corev1.ServiceTypeLoadBalancer:
		return svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts
	}
	return false
}

// collectNodePorts are the NodePorts of the Service's ports (not its health
// check port).
func collectNodePorts(svc *corev1.Service) []int32 {
	var out []int32
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			out = append(out, p.NodePort)
		}
	}
	return out
}

// isMatchingPreferDualStackClusterIPFields is true for an update of a
// PreferDualStack Service that keeps its type, clusterIPs and ipFamilies.
func isMatchingPreferDualStackClusterIPFields(svc, oldSvc *corev1.Service) bool {
	if oldSvc == nil || svc.Spec.IPFamilyPolicy == nil || oldSvc.Spec.Type != svc.Spec.Type {
		return false
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer:
	default:
		return false
	}
	if *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack {
		return false
	}
	if oldSvc.Spec.IPFamilyPolicy != nil && *oldSvc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyPreferDualStack {
		return false
	}
	return sameClusterIPs(oldSvc, svc) && sameIPFamilies(oldSvc, svc)
}

func sameIPFamilies(a, b *corev1.Service) bool {
	if len(a.Spec.IPFamilies) != len(b.Spec.IPFamilies) {
		return false
	}
	for i := range a.Spec.IPFamilies {
		if a.Spec.IPFamilies[i] != b.Spec.IPFamilies[i] {
			return false
		}
	}
	return true
}

func familyOf(ip string) corev1.IPFamily {
	switch {
	case netutils.IsIPv4String(ip):
		return corev1.IPv4Protocol
	case netutils.IsIPv6String(ip):
		return corev1.IPv6Protocol
	}
	return corev1.IPFamily("unknown")
}

func otherFamily(f corev1.IPFamily) corev1.IPFamily {
	if f == corev1.IPv4Protocol {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}

func needsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName
}

func needsHCNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}
