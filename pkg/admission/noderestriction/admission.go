// Package noderestriction is upstream's NodeRestriction admission plugin:
// a kubelet (system:node:<name>) may change only its own Node (not its
// taints, owner references or node-restriction labels), the status of pods
// bound to it, its own Lease and CSINode, mirror pods of its own, evictions
// of its pods, PVC status, tokens bound to its pods, ResourceSlices and
// PodCertificateRequests for itself, and CSRs for its own name. The Node
// authorizer decides reads; this plugin decides what writes may contain.
package noderestriction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	resourcev1 "k8s.io/api/resource/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/diff"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/informers"
	corev1listers "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/component-helpers/storage/ephemeral"
	kubeletapis "k8s.io/kubelet/pkg/apis"

	podutil "k8s.io/kubernetes/pkg/api/pod"
	coreinternal "k8s.io/kubernetes/pkg/apis/core"

	"github.com/skiff-project/skiff/pkg/api/rules"
	nodeauthorizer "github.com/skiff-project/skiff/pkg/auth/authorizer/node"
	"github.com/skiff-project/skiff/pkg/features"
)

// PluginName is the plugin's name in --enable-admission-plugins.
const PluginName = "NodeRestriction"

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the NodeRestriction admission plugin.
type Plugin struct {
	*admission.Handler
	pods            corev1listers.PodLister
	nodes           corev1listers.NodeLister
	serviceAccounts corev1listers.ServiceAccountLister
	pvcs            corev1listers.PersistentVolumeClaimLister
	pvs             corev1listers.PersistentVolumeLister
	csiDrivers      storagelisters.CSIDriverLister
	authz           authorizer.UnconditionalAuthorizer
}

var (
	_ admission.MutationInterface                  = &Plugin{}
	_ initializer.WantsExternalKubeInformerFactory = &Plugin{}
	_ initializer.WantsUnconditionalAuthorizer     = &Plugin{}
)

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update, admission.Delete)}
}

// SetExternalKubeInformerFactory implements initializer.WantsExternalKubeInformerFactory.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	core := f.Core().V1()
	p.pods = core.Pods().Lister()
	p.nodes = core.Nodes().Lister()
	p.serviceAccounts = core.ServiceAccounts().Lister()
	p.pvcs = core.PersistentVolumeClaims().Lister()
	p.pvs = core.PersistentVolumes().Lister()
	p.csiDrivers = f.Storage().V1().CSIDrivers().Lister()
}

// SetUnconditionalAuthorizer implements initializer.WantsUnconditionalAuthorizer.
func (p *Plugin) SetUnconditionalAuthorizer(a authorizer.UnconditionalAuthorizer) { p.authz = a }

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.pods == nil || p.nodes == nil || p.serviceAccounts == nil {
		return fmt.Errorf("%s requires pod, node and service account listers", PluginName)
	}
	if p.authz == nil {
		return fmt.Errorf("%s requires an authorizer", PluginName)
	}
	return nil
}

var (
	podResource                   = corev1.Resource("pods")
	nodeResource                  = corev1.Resource("nodes")
	pvcResource                   = corev1.Resource("persistentvolumeclaims")
	serviceAccountResource        = corev1.Resource("serviceaccounts")
	leaseResource                 = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	csiNodeResource               = schema.GroupResource{Group: "storage.k8s.io", Resource: "csinodes"}
	resourceSliceResource         = schema.GroupResource{Group: "resource.k8s.io", Resource: "resourceslices"}
	csrResource                   = schema.GroupResource{Group: "certificates.k8s.io", Resource: "certificatesigningrequests"}
	podCertificateRequestResource = schema.GroupResource{Group: "certificates.k8s.io", Resource: "podcertificaterequests"}
)

// Admit implements admission.MutationInterface, as upstream's plugin does:
// it must see a TokenRequest before the token storage fills in the default
// audiences, since a pod's token volume names no audience. It never mutates;
// requests not from a node pass untouched.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	node, isNode := nodeauthorizer.Identity(a.GetUserInfo())
	if !isNode {
		return nil
	}
	if node == "" {
		return admission.NewForbidden(a, fmt.Errorf("could not determine node from user %q", a.GetUserInfo().GetName()))
	}
	switch a.GetResource().GroupResource() {
	case podResource:
		switch a.GetSubresource() {
		case "":
			return p.admitPod(node, a)
		case "status":
			return admitPodStatus(node, a)
		case "eviction":
			return p.admitPodEviction(node, a)
		default:
			return admission.NewForbidden(a, fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.GetSubresource()))
		}
	case nodeResource:
		return admitNode(node, a)
	case pvcResource:
		if a.GetSubresource() != "status" {
			return admission.NewForbidden(a, fmt.Errorf("may only update PVC status"))
		}
		return admitPVCStatus(node, a)
	case serviceAccountResource:
		return p.admitServiceAccount(ctx, node, a)
	case podCertificateRequestResource:
		return p.admitPodCertificateRequest(ctx, node, a)
	case leaseResource:
		return admitLease(node, a)
	case csiNodeResource:
		return admitCSINode(node, a)
	case resourceSliceResource:
		return admitResourceSlice(node, a)
	case csrResource:
		return admitCSR(node, a)
	}
	return nil
}

func (p *Plugin) admitPod(node string, a admission.Attributes) error {
	switch a.GetOperation() {
	case admission.Create:
		return p.admitMirrorPodCreate(node, a)
	case admission.Delete:
		existing, err := p.pods.Pods(a.GetNamespace()).Get(a.GetName())
		if apierrors.IsNotFound(err) {
			return err
		}
		if err != nil {
			return admission.NewForbidden(a, err)
		}
		if existing.Spec.NodeName != node {
			return admission.NewForbidden(a, fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", node))
		}
		return nil
	}
	return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", a.GetOperation(), node))
}

func (p *Plugin) admitMirrorPodCreate(node string, a admission.Attributes) error {
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return admission.NewForbidden(a, fmt.Errorf("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, node))
	}
	if pod.Spec.NodeName != node {
		return admission.NewForbidden(a, fmt.Errorf("node %q can only create pods with spec.nodeName set to itself", node))
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return admission.NewForbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	case 1:
	default:
		return admission.NewForbidden(a, fmt.Errorf("node %q can only create pods with a single owner reference set to itself", node))
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != corev1.SchemeGroupVersion.String() || owner.Kind != "Node" || owner.Name != node {
		return admission.NewForbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", node))
	}
	if owner.Controller == nil || !*owner.Controller {
		return admission.NewForbidden(a, fmt.Errorf("node %q can only create pods with a controller owner reference set to itself", node))
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return admission.NewForbidden(a, fmt.Errorf("node %q must not set blockOwnerDeletion on an owner reference", node))
	}
	n, err := p.nodes.Get(node)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error looking up node %s to verify uid: %v", node, err))
	}
	if owner.UID != n.UID {
		return admission.NewForbidden(a, fmt.Errorf("node %s UID mismatch: expected %s got %s", node, owner.UID, n.UID))
	}
	in, err := rules.ToInternal(pod)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error checking mirror pod for API references: %w", err))
	}
	references, what, err := podutil.HasAPIObjectReference(in.(*coreinternal.Pod))
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error checking mirror pod for API references: %w", err))
	}
	if references {
		return admission.NewForbidden(a, fmt.Errorf("node %q can not create pods that reference %s", node, what))
	}
	return nil
}

func admitPodStatus(node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Update {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q", a.GetOperation()))
	}
	old, ok := a.GetOldObject().(*corev1.Pod)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
	}
	if old.Spec.NodeName != node {
		return admission.NewForbidden(a, fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", node))
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if !labels.Equals(old.Labels, pod.Labels) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update labels through pod status", node))
	}
	// Claim allocation is the scheduler's and the DRA drivers' business.
	if !resourceClaimStatusesEqual(old.Status.ResourceClaimStatuses, pod.Status.ResourceClaimStatuses) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update resource claim statues", node))
	}
	if !equality.Semantic.DeepEqual(old.Status.ExtendedResourceClaimStatus, pod.Status.ExtendedResourceClaimStatus) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update extended resource claim status", node))
	}
	if !equality.Semantic.DeepEqual(old.Status.NodeAllocatableResourceClaimStatuses, pod.Status.NodeAllocatableResourceClaimStatuses) {
		return admission.NewForbidden(a, fmt.Errorf("node %q cannot update node allocatable resource claim statuses", node))
	}
	return nil
}

func resourceClaimStatusesEqual(a, b []corev1.PodResourceClaimStatus) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.PodResourceClaimStatus) bool {
		if x.Name != y.Name || (x.ResourceClaimName == nil) != (y.ResourceClaimName == nil) {
			return false
		}
		return x.ResourceClaimName == nil || *x.ResourceClaimName == *y.ResourceClaimName
	})
}

func (p *Plugin) admitPodEviction(node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %s", a.GetOperation()))
	}
	name := a.GetName()
	if name == "" {
		m, err := meta.Accessor(a.GetObject())
		if err != nil || m.GetName() == "" {
			return admission.NewForbidden(a, fmt.Errorf("could not determine pod from request data"))
		}
		name = m.GetName()
	}
	existing, err := p.pods.Pods(a.GetNamespace()).Get(name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if existing.Spec.NodeName != node {
		return admission.NewForbidden(a, fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", node))
	}
	return nil
}

func admitPVCStatus(node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Update {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %q", a.GetOperation()))
	}
	oldPVC, ok := a.GetOldObject().(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
	}
	newPVC, ok := a.GetObject().(*corev1.PersistentVolumeClaim)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	// A node may change only capacity, conditions and (with expansion
	// recovery) the allocated resources of a claim.
	oldPVC, newPVC = oldPVC.DeepCopy(), newPVC.DeepCopy()
	for _, c := range []*corev1.PersistentVolumeClaim{oldPVC, newPVC} {
		c.ResourceVersion = ""
		c.Status.Capacity = nil
		c.Status.Conditions = nil
		if features.Enabled("RecoverVolumeExpansionFailure") {
			c.Status.AllocatedResourceStatuses = nil
			c.Status.AllocatedResources = nil
		}
		c.ManagedFields = nil
	}
	if !equality.Semantic.DeepEqual(oldPVC, newPVC) {
		return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to update fields other than status.quantity and status.conditions: %v", node, diff.Diff(oldPVC, newPVC)))
	}
	return nil
}

func admitNode(node string, a admission.Attributes) error {
	if a.GetName() != node {
		return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to modify node %q", node, a.GetName()))
	}
	switch a.GetOperation() {
	case admission.Create:
		n, ok := a.GetObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		if n.Spec.ConfigSource != nil { //nolint:staticcheck // upstream still refuses it
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", node))
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, nil)); forbidden.Len() > 0 {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to set the following labels: %s", node, strings.Join(sets.List(forbidden), ", ")))
		}
	case admission.Update:
		n, ok := a.GetObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		old, ok := a.GetOldObject().(*corev1.Node)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		if n.Spec.ConfigSource != nil && !equality.Semantic.DeepEqual(n.Spec.ConfigSource, old.Spec.ConfigSource) { //nolint:staticcheck // upstream still refuses it
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", node))
		}
		if !equality.Semantic.DeepEqual(n.Spec.Taints, old.Spec.Taints) {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to modify taints", node))
		}
		if !equality.Semantic.DeepEqual(n.OwnerReferences, old.OwnerReferences) {
			return admission.NewForbidden(a, fmt.Errorf("node %q is not allowed to modify ownerReferences", node))
		}
		if forbidden := forbiddenLabels(modifiedLabels(n.Labels, old.Labels)); forbidden.Len() > 0 {
			return admission.NewForbidden(a, fmt.Errorf("is not allowed to modify labels: %s", strings.Join(sets.List(forbidden), ", ")))
		}
	}
	return nil
}

func modifiedLabels(a, b map[string]string) sets.Set[string] {
	modified := sets.New[string]()
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			modified.Insert(k)
		}
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || v != w {
			modified.Insert(k)
		}
	}
	return modified
}

func labelNamespace(key string) string {
	if prefix, _, found := strings.Cut(key, "/"); found {
		return prefix
	}
	return ""
}

// forbiddenLabels are node-restriction.kubernetes.io labels and the
// kubernetes.io / k8s.io labels a kubelet may not set on itself.
func forbiddenLabels(modified sets.Set[string]) sets.Set[string] {
	forbidden := sets.New[string]()
	for label := range modified {
		ns := labelNamespace(label)
		if ns == corev1.LabelNamespaceNodeRestriction || strings.HasSuffix(ns, "."+corev1.LabelNamespaceNodeRestriction) {
			forbidden.Insert(label)
		}
		kubernetesLabel := ns == "kubernetes.io" || strings.HasSuffix(ns, ".kubernetes.io") || ns == "k8s.io" || strings.HasSuffix(ns, ".k8s.io")
		if kubernetesLabel && !kubeletapis.IsKubeletLabel(label) {
			forbidden.Insert(label)
		}
	}
	return forbidden
}

// admitServiceAccount: a node may request only tokens bound to a pod
// running on it, for an audience the pod uses (or it is authorized for).
func (p *Plugin) admitServiceAccount(ctx context.Context, node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create || a.GetSubresource() != "token" {
		return nil
	}
	tr, ok := a.GetObject().(*authenticationv1.TokenRequest)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return admission.NewForbidden(a, fmt.Errorf("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return admission.NewForbidden(a, fmt.Errorf("node requested token with a pod binding without a uid"))
	}
	pod, err := p.pods.Pods(a.GetNamespace()).Get(ref.Name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return admission.NewForbidden(a, err)
	}
	if ref.UID != pod.UID {
		return admission.NewForbidden(a, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != node {
		return admission.NewForbidden(a, fmt.Errorf("node requested token bound to a pod scheduled on a different node"))
	}
	if features.Enabled("ServiceAccountNodeAudienceRestriction") {
		if err := p.checkAudience(ctx, tr, pod, a); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

func (p *Plugin) checkAudience(ctx context.Context, tr *authenticationv1.TokenRequest, pod *corev1.Pod, a admission.Attributes) error {
	var audience string
	switch len(tr.Spec.Audiences) {
	case 0:
	case 1:
		audience = tr.Spec.Audiences[0]
	default:
		return fmt.Errorf("node may only request 0 or 1 audiences")
	}
	found, err := p.podUsesAudience(pod, audience)
	if err != nil {
		return fmt.Errorf("error validating audience %q: %w", audience, err)
	}
	if found {
		return nil
	}
	decision, _, err := p.authz.Authorize(ctx, attributes(a, "request-serviceaccounts-token-audience", audience, a.GetName()))
	if decision == authorizer.DecisionAllow {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error authorizing %s to request tokens for audience %q: %w", a.GetUserInfo().GetName(), audience, err)
	}
	return fmt.Errorf("%s is not authorized to request tokens for audience %q", a.GetUserInfo().GetName(), audience)
}

// podUsesAudience: a projected token volume or a CSI driver of the pod's
// volumes asks for audience. (In-tree volumes migrated to CSI are not
// translated: skiff ships no in-tree volume plugins.)
func (p *Plugin) podUsesAudience(pod *corev1.Pod, audience string) (bool, error) {
	var errs []error
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil && s.ServiceAccountToken.Audience == audience {
					return true, nil
				}
			}
		}
		var driver string
		var err error
		switch {
		case v.Ephemeral != nil && v.Ephemeral.VolumeClaimTemplate != nil:
			driver, err = p.csiDriverOfClaim(pod.Namespace, ephemeral.VolumeClaimName(pod, v))
		case v.PersistentVolumeClaim != nil:
			driver, err = p.csiDriverOfClaim(pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		case v.CSI != nil:
			driver = v.CSI.Driver
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if driver == "" {
			continue
		}
		d, err := p.csiDrivers.Get(driver)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, tr := range d.Spec.TokenRequests {
			if tr.Audience == audience {
				return true, nil
			}
		}
	}
	return false, utilerrors.NewAggregate(errs)
}

func (p *Plugin) csiDriverOfClaim(namespace, claim string) (string, error) {
	pvc, err := p.pvcs.PersistentVolumeClaims(namespace).Get(claim)
	if err != nil {
		return "", err
	}
	pv, err := p.pvs.Get(pvc.Spec.VolumeName)
	if err != nil {
		return "", err
	}
	if pv.Spec.CSI != nil {
		return pv.Spec.CSI.Driver, nil
	}
	return "", nil
}

func (p *Plugin) admitPodCertificateRequest(ctx context.Context, node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create {
		return admission.NewForbidden(a, fmt.Errorf("unexpected operation %v", a.GetOperation()))
	}
	if a.GetSubresource() != "" {
		return admission.NewForbidden(a, fmt.Errorf("unexpected subresource %v", a.GetSubresource()))
	}
	ns := a.GetNamespace()
	req, ok := a.GetObject().(*certificatesv1.PodCertificateRequest)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if string(req.Spec.NodeName) != node {
		return admission.NewForbidden(a, fmt.Errorf("PodCertificateRequest.Spec.NodeName=%q, which is not the requesting node %q", req.Spec.NodeName, node))
	}
	n, err := p.nodes.Get(string(req.Spec.NodeName))
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("while retrieving node %q named in the PodCertificateRequest: %w", req.Spec.NodeName, err)
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("while retrieving node %q named in the PodCertificateRequest: %w", req.Spec.NodeName, err))
	}
	if n.UID != req.Spec.NodeUID {
		return fmt.Errorf("PodCertificateRequest for pod %q names node UID %q, inconsistent with the running node (%q)", ns+"/"+req.Spec.PodName, req.Spec.NodeUID, n.UID)
	}
	pod, err := p.pods.Pods(ns).Get(req.Spec.PodName)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("while retrieving pod %q named in the PodCertificateRequest: %w", ns+"/"+req.Spec.PodName, err)
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("while retrieving pod %q named in the PodCertificateRequest: %w", ns+"/"+req.Spec.PodName, err))
	}
	if req.Spec.PodUID != pod.UID {
		return fmt.Errorf("PodCertificateRequest for pod %q contains pod UID (%q) which differs from running pod %q", ns+"/"+req.Spec.PodName, req.Spec.PodUID, string(pod.UID))
	}
	if pod.Spec.NodeName != string(req.Spec.NodeName) {
		return admission.NewForbidden(a, fmt.Errorf("pod %q is not running on node %q named in the PodCertificateRequest", ns+"/"+req.Spec.PodName, req.Spec.NodeName))
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return admission.NewForbidden(a, fmt.Errorf("pod %q is a mirror pod", ns+"/"+req.Spec.PodName))
	}
	if req.Spec.ServiceAccountName != pod.Spec.ServiceAccountName {
		return admission.NewForbidden(a, fmt.Errorf("PodCertificateRequest for pod %q contains serviceAccountName (%q) that differs from running pod (%q)", ns+"/"+req.Spec.PodName, req.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
	}
	sa, err := p.serviceAccounts.ServiceAccounts(ns).Get(req.Spec.ServiceAccountName)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("while retrieving service account %q named in the PodCertificateRequest: %w", ns+"/"+req.Spec.ServiceAccountName, err)
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("while retrieving service account %q named in the PodCertificateRequest: %w", ns+"/"+req.Spec.ServiceAccountName, err))
	}
	if req.Spec.ServiceAccountUID != sa.UID {
		return fmt.Errorf("PodCertificateRequest for pod %q names service account UID %q, which differs from the running service account (%q)", ns+"/"+req.Spec.PodName, req.Spec.ServiceAccountUID, sa.UID)
	}
	if podMountsSigner(pod, req.Spec.SignerName) {
		return nil
	}
	// Otherwise the node needs explicit permission for the signer.
	signer := strings.ReplaceAll(req.Spec.SignerName, "/", ":")
	decision, _, err := p.authz.Authorize(ctx, attributes(a, "request-serviceaccounts-podcertificate-signer", signer, req.Spec.ServiceAccountName))
	if decision == authorizer.DecisionAllow {
		return nil
	}
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("error authorizing %s to request podcertificaterequests for signer %q: %w", a.GetUserInfo().GetName(), req.Spec.SignerName, err))
	}
	return admission.NewForbidden(a, fmt.Errorf("pod %q does not mount a podCertificate projected volume for signer %q", ns+"/"+req.Spec.PodName, req.Spec.SignerName))
}

func podMountsSigner(pod *corev1.Pod, signer string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.PodCertificate != nil && s.PodCertificate.SignerName == signer {
				return true
			}
		}
	}
	return false
}

func attributes(a admission.Attributes, verb, resource, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User:            a.GetUserInfo(),
		Verb:            verb,
		APIGroup:        a.GetResource().Group,
		APIVersion:      a.GetResource().Version,
		Resource:        resource,
		Namespace:       a.GetNamespace(),
		Name:            name,
		ResourceRequest: true,
	}
}

func admitLease(node string, a admission.Attributes) error {
	if a.GetNamespace() != corev1.NamespaceNodeLease {
		return admission.NewForbidden(a, fmt.Errorf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease))
	}
	name := a.GetName()
	if a.GetOperation() == admission.Create {
		lease, ok := a.GetObject().(*coordinationv1.Lease)
		if !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		name = lease.Name
	}
	if name != node {
		return admission.NewForbidden(a, fmt.Errorf("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

func admitCSINode(node string, a admission.Attributes) error {
	name := a.GetName()
	if a.GetOperation() == admission.Create {
		m, err := meta.Accessor(a.GetObject())
		if err != nil {
			return admission.NewForbidden(a, fmt.Errorf("unable to access the object name"))
		}
		name = m.GetName()
	}
	if name != node {
		return admission.NewForbidden(a, fmt.Errorf("can only access CSINode with the same name as the requesting node"))
	}
	if a.GetSubresource() == "status" {
		// Upstream's CSIVolumeHealth feature (alpha, off) would open it.
		return admission.NewForbidden(a, fmt.Errorf("CSIVolumeHealth feature gate is disabled"))
	}
	return nil
}

func admitResourceSlice(node string, a admission.Attributes) error {
	var slice *resourcev1.ResourceSlice
	var ok bool
	switch a.GetOperation() {
	case admission.Create:
		if slice, ok = a.GetObject().(*resourcev1.ResourceSlice); !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
		}
		if slice.Spec.NodeName == nil || *slice.Spec.NodeName != node {
			return admission.NewForbidden(a, errors.New("can only create ResourceSlice with the same NodeName as the requesting node"))
		}
	case admission.Delete:
		if slice, ok = a.GetOldObject().(*resourcev1.ResourceSlice); !ok {
			return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetOldObject()))
		}
		if slice.Spec.NodeName == nil || *slice.Spec.NodeName != node {
			return admission.NewForbidden(a, errors.New("can only delete ResourceSlice with the same NodeName as the requesting node"))
		}
	}
	return nil
}

// admitCSR: kubelet client and serving CSRs a node creates must be for its
// own name.
func admitCSR(node string, a admission.Attributes) error {
	if a.GetOperation() != admission.Create {
		return nil
	}
	csr, ok := a.GetObject().(*certificatesv1.CertificateSigningRequest)
	if !ok {
		return admission.NewForbidden(a, fmt.Errorf("unexpected type %T", a.GetObject()))
	}
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName && csr.Spec.SignerName != certificatesv1.KubeAPIServerClientKubeletSignerName {
		return nil
	}
	req, err := parseCSR(csr.Spec.Request)
	if err != nil {
		return admission.NewForbidden(a, fmt.Errorf("unable to parse csr: %w", err))
	}
	if req.Subject.CommonName != nodeauthorizer.NodeUserPrefix+node {
		return admission.NewForbidden(a, fmt.Errorf("can only create a node CSR with CN=system:node:%s", node))
	}
	return nil
}
