// Package limitranger is upstream's LimitRanger admission plugin: pods get
// the default requests and limits of their namespace's LimitRanges (noted
// in the kubernetes.io/limit-ranger annotation), and pods and persistent
// volume claims outside a LimitRange's min, max or limit/request ratio are
// refused with upstream's messages.
package limitranger

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/utils/lru"

	"github.com/skiff-project/skiff/pkg/features"
)

const (
	// PluginName is the plugin's name in --enable-admission-plugins.
	PluginName = "LimitRanger"
	// annotation records which defaults the plugin set.
	annotation = "kubernetes.io/limit-ranger"
	// liveTTL is how long a live list of an empty-looking namespace's
	// LimitRanges is trusted: the cache may lag a LimitRange just created.
	liveTTL = 30 * time.Second
)

// Register adds the plugin to plugins.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) { return New(), nil })
}

// Plugin is the LimitRanger admission plugin.
type Plugin struct {
	*admission.Handler
	client kubernetes.Interface
	lister corev1listers.LimitRangeLister

	mu        sync.Mutex
	liveCache *lru.Cache
}

type liveEntry struct {
	expiry time.Time
	items  []*corev1.LimitRange
}

var (
	_ admission.MutationInterface                  = &Plugin{}
	_ admission.ValidationInterface                = &Plugin{}
	_ initializer.WantsExternalKubeClientSet       = &Plugin{}
	_ initializer.WantsExternalKubeInformerFactory = &Plugin{}
)

// New returns the plugin.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), liveCache: lru.New(10000)}
}

// SetExternalKubeInformerFactory implements initializer.WantsExternalKubeInformerFactory.
func (p *Plugin) SetExternalKubeInformerFactory(f informers.SharedInformerFactory) {
	i := f.Core().V1().LimitRanges()
	p.SetReadyFunc(i.Informer().HasSynced)
	p.lister = i.Lister()
}

// SetExternalKubeClientSet implements initializer.WantsExternalKubeClientSet.
func (p *Plugin) SetExternalKubeClientSet(c kubernetes.Interface) { p.client = c }

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.lister == nil {
		return fmt.Errorf("missing limitRange lister")
	}
	if p.client == nil {
		return fmt.Errorf("missing client")
	}
	return nil
}

// Admit sets default requests and limits on new pods.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	return p.run(ctx, a, mutate)
}

// Validate enforces the LimitRanges' constraints.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	return p.run(ctx, a, validate)
}

func (p *Plugin) run(ctx context.Context, a admission.Attributes, fn func(*corev1.LimitRange, string, any) error) error {
	if !supports(a) {
		return nil
	}
	// Objects being deleted may be updated (finalizers) freely.
	if old := a.GetOldObject(); old != nil {
		m, err := meta.Accessor(old)
		if err != nil {
			return admission.NewForbidden(a, err)
		}
		if m.GetDeletionTimestamp() != nil {
			return nil
		}
	}
	items, err := p.limitRanges(ctx, a)
	if err != nil {
		return err
	}
	for _, lr := range items {
		if err := fn(lr, a.GetResource().Resource, a.GetObject()); err != nil {
			return admission.NewForbidden(a, err)
		}
	}
	return nil
}

// supports: pod creates and resizes, and persistent volume claims.
func supports(a admission.Attributes) bool {
	isPod := a.GetKind().GroupKind() == corev1.SchemeGroupVersion.WithKind("Pod").GroupKind()
	if a.GetSubresource() == "resize" && isPod && a.GetOperation() == admission.Update {
		return true
	}
	if a.GetSubresource() != "" {
		return false
	}
	if isPod && a.GetOperation() == admission.Update {
		return false
	}
	return isPod || a.GetKind().GroupKind() == corev1.SchemeGroupVersion.WithKind("PersistentVolumeClaim").GroupKind()
}

// limitRanges lists the namespace's LimitRanges; when the cache has none it
// asks the API (at most every liveTTL per namespace), so that a LimitRange
// created a moment ago applies.
func (p *Plugin) limitRanges(ctx context.Context, a admission.Attributes) ([]*corev1.LimitRange, error) {
	ns := a.GetNamespace()
	items, err := p.lister.LimitRanges(ns).List(labels.Everything())
	if err != nil {
		return nil, admission.NewForbidden(a, fmt.Errorf("unable to %s %v at this time because there was an error enforcing limit ranges", a.GetOperation(), a.GetResource()))
	}
	if len(items) > 0 {
		return items, nil
	}
	p.mu.Lock()
	cached, ok := p.liveCache.Get(ns)
	p.mu.Unlock()
	if ok && cached.(liveEntry).expiry.After(time.Now()) {
		return cached.(liveEntry).items, nil
	}
	live, err := p.client.CoreV1().LimitRanges(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, admission.NewForbidden(a, err)
	}
	entry := liveEntry{expiry: time.Now().Add(liveTTL)}
	for i := range live.Items {
		entry.items = append(entry.items, &live.Items[i])
	}
	p.mu.Lock()
	p.liveCache.Add(ns, entry)
	p.mu.Unlock()
	return entry.items, nil
}

func mutate(lr *corev1.LimitRange, resource string, obj any) error {
	if pod, ok := obj.(*corev1.Pod); ok && resource == "pods" {
		DefaultPodResources(lr, pod)
	}
	return nil
}

func validate(lr *corev1.LimitRange, resource string, obj any) error {
	switch o := obj.(type) {
	case *corev1.Pod:
		if resource == "pods" {
			return ValidatePod(lr, o)
		}
	case *corev1.PersistentVolumeClaim:
		if resource == "persistentvolumeclaims" {
			return ValidatePersistentVolumeClaim(lr, o)
		}
	}
	return nil
}

// DefaultPodResources sets the Container defaults of lr on every container
// and init container that lacks them.
func DefaultPodResources(lr *corev1.LimitRange, pod *corev1.Pod) {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	for _, l := range lr.Spec.Limits {
		if l.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range l.DefaultRequest {
			requests[k] = v.DeepCopy()
		}
		for k, v := range l.Default {
			limits[k] = v.DeepCopy()
		}
	}
	var notes []string
	for i := range pod.Spec.Containers {
		notes = mergeContainerResources(&pod.Spec.Containers[i], requests, limits, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = mergeContainerResources(&pod.Spec.InitContainers[i], requests, limits, "init container", notes)
	}
	if len(notes) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[annotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
	}
}

func mergeContainerResources(c *corev1.Container, requests, limits corev1.ResourceList, kind string, notes []string) []string {
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	var setLimits, setRequests []string
	for k, v := range limits {
		if _, found := c.Resources.Limits[k]; !found {
			c.Resources.Limits[k] = v.DeepCopy()
			setLimits = append(setLimits, string(k))
		}
	}
	for k, v := range requests {
		if _, found := c.Resources.Requests[k]; !found {
			c.Resources.Requests[k] = v.DeepCopy()
			setRequests = append(setRequests, string(k))
		}
	}
	if len(setRequests) > 0 {
		sort.Strings(setRequests)
		notes = append(notes, strings.Join(setRequests, ", ")+fmt.Sprintf(" request for %s %s", kind, c.Name))
	}
	if len(setLimits) > 0 {
		sort.Strings(setLimits)
		notes = append(notes, strings.Join(setLimits, ", ")+fmt.Sprintf(" limit for %s %s", kind, c.Name))
	}
	return notes
}

// ValidatePersistentVolumeClaim checks a claim's storage request against
// lr's PersistentVolumeClaim limits.
func ValidatePersistentVolumeClaim(lr *corev1.LimitRange, pvc *corev1.PersistentVolumeClaim) error {
	var errs []error
	for _, l := range lr.Spec.Limits {
		if l.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		for k, v := range l.Min {
			if err := minConstraint(string(l.Type), string(k), v, pvc.Spec.Resources.Requests, corev1.ResourceList{}); err != nil {
				errs = append(errs, err)
			}
		}
		for k, v := range l.Max {
			if err := maxRequestConstraint(string(l.Type), string(k), v, pvc.Spec.Resources.Requests); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return utilerrors.NewAggregate(errs)
}

// ValidatePod checks each container against lr's Container limits and the
// whole pod against its Pod limits.
func ValidatePod(lr *corev1.LimitRange, pod *corev1.Pod) error {
	var errs []error
	check := func(l corev1.LimitRangeItem, requests, limits corev1.ResourceList) {
		for k, v := range l.Min {
			if err := minConstraint(string(l.Type), string(k), v, requests, limits); err != nil {
				errs = append(errs, err)
			}
		}
		for k, v := range l.Max {
			if err := maxConstraint(string(l.Type), string(k), v, requests, limits); err != nil {
				errs = append(errs, err)
			}
		}
		for k, v := range l.MaxLimitRequestRatio {
			if err := limitRequestRatioConstraint(string(l.Type), string(k), v, requests, limits); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, l := range lr.Spec.Limits {
		switch l.Type {
		case corev1.LimitTypeContainer:
			for _, c := range pod.Spec.Containers {
				check(l, c.Resources.Requests, c.Resources.Limits)
			}
			for _, c := range pod.Spec.InitContainers {
				check(l, c.Resources.Requests, c.Resources.Limits)
			}
		case corev1.LimitTypePod:
			podLevel := features.Enabled("PodLevelResources")
			check(l, podRequests(pod, podLevel), podLimits(pod, podLevel))
		}
	}
	return utilerrors.NewAggregate(errs)
}

// values compares quantities in milli-units when they fit, else units.
func values(request, limit, enforced resource.Quantity) (int64, int64, int64) {
	r, l, e := request.Value(), limit.Value(), enforced.Value()
	if r <= resource.MaxMilliValue && l <= resource.MaxMilliValue && e <= resource.MaxMilliValue {
		return request.MilliValue(), limit.MilliValue(), enforced.MilliValue()
	}
	return r, l, e
}

func minConstraint(limitType, name string, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqExists := requests[corev1.ResourceName(name)]
	lim, limExists := limits[corev1.ResourceName(name)]
	r, l, e := values(req, lim, enforced)
	switch {
	case !reqExists:
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	case limExists && l < e:
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	}
	return nil
}

func maxRequestConstraint(limitType, name string, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, reqExists := requests[corev1.ResourceName(name)]
	r, _, e := values(req, resource.Quantity{}, enforced)
	switch {
	case !reqExists:
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	case r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func maxConstraint(limitType, name string, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqExists := requests[corev1.ResourceName(name)]
	lim, limExists := limits[corev1.ResourceName(name)]
	r, l, e := values(req, lim, enforced)
	switch {
	case !limExists:
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, limitType, enforced.String())
	case l > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	case reqExists && r > e:
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func limitRequestRatioConstraint(limitType, name string, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqExists := requests[corev1.ResourceName(name)]
	lim, limExists := limits[corev1.ResourceName(name)]
	r, l, _ := values(req, lim, enforced)
	if !reqExists || r == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, limitType, enforced.String())
	}
	if !limExists || l == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, limitType, enforced.String())
	}
	observed := float64(l) / float64(r)
	display := observed
	maxRatio := float64(enforced.Value())
	if enforced.Value() <= resource.MaxMilliValue {
		observed *= 1000
		maxRatio = float64(enforced.MilliValue())
	}
	if observed > maxRatio {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %f", name, limitType, enforced.String(), display)
	}
	return nil
}

// podRequests is the pod's effective request: containers and sidecars
// summed, the largest init container step, pod-level values winning.
func podRequests(pod *corev1.Pod, podLevel bool) corev1.ResourceList {
	return podTotal(pod, podLevel, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests })
}

// podLimits is podRequests for limits.
func podLimits(pod *corev1.Pod, podLevel bool) corev1.ResourceList {
	return podTotal(pod, podLevel, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
}

func podTotal(pod *corev1.Pod, podLevel bool, of func(corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addResourceList(total, of(c.Resources))
	}
	sidecars := corev1.ResourceList{}
	initMax := corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		step := of(c.Resources)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			// Sidecars keep running: they add to the pod and to every
			// later init step.
			addResourceList(total, step)
			addResourceList(sidecars, step)
			step = sidecars
		} else {
			tmp := corev1.ResourceList{}
			addResourceList(tmp, step)
			addResourceList(tmp, sidecars)
			step = tmp
		}
		maxResourceList(initMax, step)
	}
	maxResourceList(total, initMax)
	if podLevel && pod.Spec.Resources != nil {
		for name, q := range of(*pod.Spec.Resources) {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				total[name] = q
			}
		}
	}
	return total
}

func addResourceList(list, add corev1.ResourceList) {
	for name, q := range add {
		if v, ok := list[name]; ok {
			v.Add(q)
			list[name] = v
		} else {
			list[name] = q.DeepCopy()
		}
	}
}

func maxResourceList(list, other corev1.ResourceList) {
	for name, q := range other {
		if v, ok := list[name]; !ok || q.Cmp(v) > 0 {
			list[name] = q.DeepCopy()
		}
	}
}
