package framework

import (
	"fmt"
	"sync/atomic"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	ndf "k8s.io/component-helpers/nodedeclaredfeatures"
)

// AffinityTerm is a parsed v1.PodAffinityTerm.
type AffinityTerm struct {
	Namespaces        sets.Set[string]
	Selector          labels.Selector
	TopologyKey       string
	NamespaceSelector labels.Selector
}

// Matches reports whether pod (in a namespace with labels nsLabels) is
// selected by the term.
func (t *AffinityTerm) Matches(pod *v1.Pod, nsLabels labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || t.NamespaceSelector.Matches(nsLabels) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// WeightedAffinityTerm is a parsed v1.WeightedPodAffinityTerm.
type WeightedAffinityTerm struct {
	AffinityTerm
	Weight int32
}

func newAffinityTerm(pod *v1.Pod, term *v1.PodAffinityTerm) (*AffinityTerm, error) {
	selector, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return nil, err
	}
	nsSelector, err := metav1.LabelSelectorAsSelector(term.NamespaceSelector)
	if err != nil {
		return nil, err
	}
	namespaces := sets.New[string]()
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		namespaces.Insert(pod.Namespace)
	} else {
		namespaces.Insert(term.Namespaces...)
	}
	return &AffinityTerm{Namespaces: namespaces, Selector: selector, TopologyKey: term.TopologyKey, NamespaceSelector: nsSelector}, nil
}

// GetAffinityTerms parses required (anti-)affinity terms of pod.
func GetAffinityTerms(pod *v1.Pod, terms []v1.PodAffinityTerm) ([]AffinityTerm, error) {
	if terms == nil {
		return nil, nil
	}
	var out []AffinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *t)
	}
	return out, nil
}

// GetWeightedAffinityTerms parses preferred (anti-)affinity terms of pod.
func GetWeightedAffinityTerms(pod *v1.Pod, terms []v1.WeightedPodAffinityTerm) ([]WeightedAffinityTerm, error) {
	if terms == nil {
		return nil, nil
	}
	var out []WeightedAffinityTerm
	for i := range terms {
		t, err := newAffinityTerm(pod, &terms[i].PodAffinityTerm)
		if err != nil {
			return nil, err
		}
		out = append(out, WeightedAffinityTerm{AffinityTerm: *t, Weight: terms[i].Weight})
	}
	return out, nil
}

// PodAffinityTerms are the required pod affinity terms of an affinity.
func PodAffinityTerms(a *v1.Affinity) []v1.PodAffinityTerm {
	if a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		return a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// PodAntiAffinityTerms are the required pod anti-affinity terms of an affinity.
func PodAntiAffinityTerms(a *v1.Affinity) []v1.PodAffinityTerm {
	if a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0 {
		return a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	}
	return nil
}

// PodInfo is a pod with its parsed affinity terms and cached resources.
type PodInfo struct {
	Pod                        *v1.Pod
	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []WeightedAffinityTerm
	PreferredAntiAffinityTerms []WeightedAffinityTerm

	resource *PodResource
}

// NewPodInfo parses pod. Parse errors are returned with a usable PodInfo
// (upstream ignores them for pods already admitted).
func NewPodInfo(pod *v1.Pod) (*PodInfo, error) {
	pi := &PodInfo{}
	err := pi.Update(pod)
	return pi, err
}

// Update replaces the pod and re-parses its terms.
func (pi *PodInfo) Update(pod *v1.Pod) error {
	pi.Pod = pod
	pi.resource = nil
	var preferredAffinity, preferredAnti []v1.WeightedPodAffinityTerm
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			preferredAffinity = a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		}
		if a.PodAntiAffinity != nil {
			preferredAnti = a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution
		}
	}
	var errs []error
	var err error
	if pi.RequiredAffinityTerms, err = GetAffinityTerms(pod, PodAffinityTerms(pod.Spec.Affinity)); err != nil {
		errs = append(errs, fmt.Errorf("requiredAffinityTerms: %w", err))
	}
	if pi.RequiredAntiAffinityTerms, err = GetAffinityTerms(pod, PodAntiAffinityTerms(pod.Spec.Affinity)); err != nil {
		errs = append(errs, fmt.Errorf("requiredAntiAffinityTerms: %w", err))
	}
	if pi.PreferredAffinityTerms, err = GetWeightedAffinityTerms(pod, preferredAffinity); err != nil {
		errs = append(errs, fmt.Errorf("preferredAffinityTerms: %w", err))
	}
	if pi.PreferredAntiAffinityTerms, err = GetWeightedAffinityTerms(pod, preferredAnti); err != nil {
		errs = append(errs, fmt.Errorf("preferredAntiAffinityTerms: %w", err))
	}
	return utilerrors.NewAggregate(errs)
}

// Resource is what the pod takes from its node (computed once).
func (pi *PodInfo) Resource() PodResource {
	if pi.resource == nil {
		r := CalculatePodResource(pi.Pod)
		pi.resource = &r
	}
	return *pi.resource
}

// DeepCopy copies the pod; parsed terms are shared (they are immutable).
func (pi *PodInfo) DeepCopy() *PodInfo {
	out := *pi
	out.Pod = pi.Pod.DeepCopy()
	return &out
}

// ImageStateSummary is an image on a node and how many nodes have it.
type ImageStateSummary struct {
	Size     int64
	NumNodes int
}

// ProtocolPort is a protocol and port pair.
type ProtocolPort struct {
	Protocol string
	Port     int32
}

// DefaultBindAllHostIP is the host IP that binds every address.
const DefaultBindAllHostIP = "0.0.0.0"

// HostPortInfo maps host IPs to the protocol/port pairs in use there.
type HostPortInfo map[string]map[ProtocolPort]struct{}

func sanitizeHostPort(ip, protocol string) (string, string) {
	if ip == "" {
		ip = DefaultBindAllHostIP
	}
	if protocol == "" {
		protocol = string(v1.ProtocolTCP)
	}
	return ip, protocol
}

// Add marks (ip, protocol, port) used.
func (h HostPortInfo) Add(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	if h[ip] == nil {
		h[ip] = map[ProtocolPort]struct{}{}
	}
	h[ip][ProtocolPort{Protocol: protocol, Port: port}] = struct{}{}
}

// Remove releases (ip, protocol, port).
func (h HostPortInfo) Remove(ip, protocol string, port int32) {
	if port <= 0 {
		return
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	if m, ok := h[ip]; ok {
		delete(m, ProtocolPort{Protocol: protocol, Port: port})
		if len(m) == 0 {
			delete(h, ip)
		}
	}
}

// Len counts the used (ip, protocol, port) triples.
func (h HostPortInfo) Len() int {
	n := 0
	for _, m := range h {
		n += len(m)
	}
	return n
}

// CheckConflict reports whether (ip, protocol, port) clashes with a used
// one; 0.0.0.0 clashes with every IP.
func (h HostPortInfo) CheckConflict(ip, protocol string, port int32) bool {
	if port <= 0 {
		return false
	}
	ip, protocol = sanitizeHostPort(ip, protocol)
	pp := ProtocolPort{Protocol: protocol, Port: port}
	if ip == DefaultBindAllHostIP {
		for _, m := range h {
			if _, ok := m[pp]; ok {
				return true
			}
		}
		return false
	}
	for _, key := range []string{DefaultBindAllHostIP, ip} {
		if m, ok := h[key]; ok {
			if _, ok := m[pp]; ok {
				return true
			}
		}
	}
	return false
}

// HostPorts are the pod's container ports with a hostPort, including those
// of restartable init (sidecar) containers, which run as long as the pod.
func HostPorts(pod *v1.Pod) []v1.ContainerPort {
	var ports []v1.ContainerPort
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				ports = append(ports, p)
			}
		}
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				ports = append(ports, p)
			}
		}
	}
	return ports
}

var generation int64

func nextGeneration() int64 { return atomic.AddInt64(&generation, 1) }

// NodeInfo is a node with the pods on it (bound and assumed) and their
// aggregate requests.
type NodeInfo struct {
	node *v1.Node

	Pods                         []*PodInfo
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo

	UsedPorts HostPortInfo
	// Requested is the sum of the pods' requests.
	Requested *Resource
	// NonZeroRequested counts requestless containers at the defaults.
	NonZeroRequested *Resource
	// Allocatable is the node's status.allocatable.
	Allocatable *Resource
	// ImageStates are the node's images by normalized name.
	ImageStates map[string]*ImageStateSummary
	// PVCRefCounts counts pods using each PVC ("namespace/name").
	PVCRefCounts map[string]int
	// Generation increases whenever the NodeInfo changes.
	Generation int64
	// DeclaredFeatures are the node's status.declaredFeatures known to
	// this scheduler.
	DeclaredFeatures ndf.FeatureSet
}

// NewNodeInfo returns an empty NodeInfo holding pods.
func NewNodeInfo(pods ...*v1.Pod) *NodeInfo {
	ni := &NodeInfo{
		Requested:        &Resource{},
		NonZeroRequested: &Resource{},
		Allocatable:      &Resource{},
		UsedPorts:        HostPortInfo{},
		ImageStates:      map[string]*ImageStateSummary{},
		PVCRefCounts:     map[string]int{},
		Generation:       nextGeneration(),
	}
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Node is the node; nil if it was deleted while pods remain.
func (n *NodeInfo) Node() *v1.Node {
	if n == nil {
		return nil
	}
	return n.node
}

// SetNode sets the node and its allocatable.
func (n *NodeInfo) SetNode(node *v1.Node) {
	n.node = node
	n.Allocatable = NewResource(node.Status.Allocatable)
	// Unknown features are ignored: only known ones can be required.
	n.DeclaredFeatures = ndf.DefaultFramework.TryMap(node.Status.DeclaredFeatures)
	n.Generation = nextGeneration()
}

// RemoveNode forgets the node but keeps the pods.
func (n *NodeInfo) RemoveNode() {
	n.node = nil
	n.Generation = nextGeneration()
}

// Snapshot copies the NodeInfo; pods are shared.
func (n *NodeInfo) Snapshot() *NodeInfo {
	c := &NodeInfo{
		node:             n.node,
		Requested:        n.Requested.Clone(),
		NonZeroRequested: n.NonZeroRequested.Clone(),
		Allocatable:      n.Allocatable.Clone(),
		UsedPorts:        make(HostPortInfo, len(n.UsedPorts)),
		ImageStates:      n.ImageStates,
		PVCRefCounts:     make(map[string]int, len(n.PVCRefCounts)),
		Generation:       n.Generation,
		DeclaredFeatures: n.DeclaredFeatures.Clone(),
	}
	if len(n.Pods) > 0 {
		c.Pods = append([]*PodInfo(nil), n.Pods...)
	}
	if len(n.PodsWithAffinity) > 0 {
		c.PodsWithAffinity = append([]*PodInfo(nil), n.PodsWithAffinity...)
	}
	if len(n.PodsWithRequiredAntiAffinity) > 0 {
		c.PodsWithRequiredAntiAffinity = append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...)
	}
	for ip, m := range n.UsedPorts {
		cm := make(map[ProtocolPort]struct{}, len(m))
		for k := range m {
			cm[k] = struct{}{}
		}
		c.UsedPorts[ip] = cm
	}
	for k, v := range n.PVCRefCounts {
		c.PVCRefCounts[k] = v
	}
	return c
}

func podWithAffinity(p *v1.Pod) bool {
	a := p.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

func podWithRequiredAntiAffinity(p *v1.Pod) bool {
	a := p.Spec.Affinity
	return a != nil && a.PodAntiAffinity != nil && len(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 0
}

// AddPod adds a pod (parsing its terms).
func (n *NodeInfo) AddPod(pod *v1.Pod) {
	pi, _ := NewPodInfo(pod)
	n.AddPodInfo(pi)
}

// AddPodInfo adds a pod.
func (n *NodeInfo) AddPodInfo(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if podWithAffinity(pi.Pod) {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if podWithRequiredAntiAffinity(pi.Pod) {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.update(pi, 1)
}

func removeFromSlice(s []*PodInfo, uid string) ([]*PodInfo, *PodInfo) {
	for i := range s {
		if string(s[i].Pod.UID) == uid {
			removed := s[i]
			s[i] = s[len(s)-1]
			s[len(s)-1] = nil
			s = s[:len(s)-1]
			if len(s) == 0 {
				s = nil
			}
			return s, removed
		}
	}
	return s, nil
}

// RemovePod removes the pod with pod's UID.
func (n *NodeInfo) RemovePod(pod *v1.Pod) error {
	uid := string(pod.UID)
	if podWithAffinity(pod) {
		n.PodsWithAffinity, _ = removeFromSlice(n.PodsWithAffinity, uid)
	}
	if podWithRequiredAntiAffinity(pod) {
		n.PodsWithRequiredAntiAffinity, _ = removeFromSlice(n.PodsWithRequiredAntiAffinity, uid)
	}
	var removed *PodInfo
	if n.Pods, removed = removeFromSlice(n.Pods, uid); removed != nil {
		n.update(removed, -1)
		return nil
	}
	name := "<deleted>"
	if n.node != nil {
		name = n.node.Name
	}
	return fmt.Errorf("no pod %s/%s on node %s", pod.Namespace, pod.Name, name)
}

func (n *NodeInfo) update(pi *PodInfo, sign int64) {
	res := pi.Resource()
	n.Requested.MilliCPU += sign * res.Resource.MilliCPU
	n.Requested.Memory += sign * res.Resource.Memory
	n.Requested.EphemeralStorage += sign * res.Resource.EphemeralStorage
	for name, q := range res.Resource.ScalarResources {
		n.Requested.AddScalar(name, sign*q)
	}
	n.NonZeroRequested.MilliCPU += sign * res.Non0CPU
	n.NonZeroRequested.Memory += sign * res.Non0Mem
	for _, p := range HostPorts(pi.Pod) {
		if sign > 0 {
			n.UsedPorts.Add(p.HostIP, string(p.Protocol), p.HostPort)
		} else {
			n.UsedPorts.Remove(p.HostIP, string(p.Protocol), p.HostPort)
		}
	}
	for _, v := range pi.Pod.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		key := pi.Pod.Namespace + "/" + v.PersistentVolumeClaim.ClaimName
		n.PVCRefCounts[key] += int(sign)
		if n.PVCRefCounts[key] <= 0 {
			delete(n.PVCRefCounts, key)
		}
	}
	n.Generation = nextGeneration()
}

// PodKey is the cache key of a pod: its UID.
func PodKey(pod *v1.Pod) (string, error) {
	if pod.UID == "" {
		return "", fmt.Errorf("pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	return string(pod.UID), nil
}
