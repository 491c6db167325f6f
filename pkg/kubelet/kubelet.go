// Package kubelet is skiff's node agent: it registers the node, runs the
// pods bound to it through a CRI v1 runtime (containerd), reports their
// status as upstream's kubelet does, and serves their logs, exec, attach
// and port-forward on its HTTPS port.
//
// The shape follows upstream's kubelet in spirit, much smaller: one worker
// goroutine per pod runs a level-triggered sync (read the runtime, compare
// with the spec, act, report); a relister wakes workers when the runtime
// changes under them; probes run in their own goroutines and wake the
// worker when a result changes.
package kubelet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"github.com/skiff-project/skiff/pkg/kubelet/volume"
)

// Config is what a kubelet needs.
type Config struct {
	NodeName string
	// NodeIP is the node's InternalIP, the address the API server dials.
	NodeIP net.IP
	Client kubernetes.Interface
	// Runtime and Images are the CRI services.
	Runtime internalapi.RuntimeService
	Images  internalapi.ImageManagerService
	// ImageViews mounts image volumes (containerd snapshot views); nil:
	// pods with image volumes fail to mount them.
	ImageViews volume.ImageViews
	// SandboxImage is the pause image; image garbage collection keeps it
	// (containerd 1.6's CRI does not report it pinned).
	SandboxImage string
	// PinnedImages lists the names of images garbage collection keeps
	// whatever the CRI says (imported images: there is no registry to pull
	// them back from); nil: only the CRI's pinned flag counts.
	PinnedImages func(ctx context.Context) ([]string, error)
	// RootDir holds pods' volumes (RootDir/pods/<uid>/volumes/...).
	RootDir string
	// PodLogsDir holds container logs (<ns>_<name>_<uid>/<container>/<n>.log).
	PodLogsDir string
	// CgroupParent is where pod cgroups go (cgroupfs path, e.g. /skiff).
	CgroupParent string
	// PodCIDR is set on the Node when its spec has none.
	PodCIDR string
	// Port is the kubelet's HTTPS port, published in the node status.
	Port int
	// ClusterDNS and ClusterDomain configure pods' resolv.conf (ClusterFirst).
	ClusterDNS    []string
	ClusterDomain string
	// ResolvConf is the host's resolv.conf, for dnsPolicy Default.
	ResolvConf string
	// MaxPods is the node's pod capacity.
	MaxPods int
	// Version is the kubelet version reported in the node status.
	Version string
	// ResyncInterval is how often a running pod is re-synced without any
	// event (volume contents refresh, status), 10 s by default.
	ResyncInterval time.Duration
	// RelistInterval is how often the runtime is listed for changes.
	RelistInterval time.Duration
	// ImageFsPath is where the runtime keeps images (containerd's root),
	// watched by image garbage collection; empty turns it off.
	ImageFsPath string
	// StaticPodPath is a directory of pod manifests run without the API
	// (each mirrored there); empty for none.
	StaticPodPath string
}

// Kubelet runs pods on one node.
type Kubelet struct {
	cfg       Config
	client    kubernetes.Interface
	runtime   internalapi.RuntimeService
	images    internalapi.ImageManagerService
	recorder  record.EventRecorder
	podLister corelisters.PodLister
	svcLister corelisters.ServiceLister
	volumes   *volume.Manager
	status    *statusManager
	workers   *podWorkers
	admitter  *podAdmitter
	backoff   *backoff
	pullBack  *backoff
	probes    *probeManager
	hostIPs   []string

	mu sync.Mutex
	// runtimeReady is the last runtime health seen (node Ready condition).
	runtimeReady   bool
	runtimeMessage string
	// pullErrors and pullFailedAt remember failed pulls for ImagePullBackOff.
	pullErrors   map[string]string
	pullFailedAt map[string]time.Time
	// staticPods are the pods of the manifest directory, by UID.
	staticPods map[types.UID]*v1.Pod
	// sandboxSlots bounds concurrent RunPodSandbox calls.
	sandboxSlots chan struct{}
	// applied are the resources running containers were given, by ID.
	applied map[string]*runtimeapi.LinuxContainerResources
}

// New checks cfg and builds a kubelet.
func New(cfg Config) (*Kubelet, error) {
	if cfg.NodeName == "" || cfg.Client == nil || cfg.Runtime == nil || cfg.Images == nil {
		return nil, fmt.Errorf("kubelet: node name, API client and CRI services are required")
	}
	if cfg.ResyncInterval == 0 {
		cfg.ResyncInterval = 10 * time.Second
	}
	if cfg.RelistInterval == 0 {
		cfg.RelistInterval = time.Second
	}
	if cfg.MaxPods == 0 {
		cfg.MaxPods = 110
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	for _, d := range []string{cfg.RootDir, cfg.PodLogsDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, err
		}
	}
	kl := &Kubelet{
		cfg:      cfg,
		client:   cfg.Client,
		runtime:  cfg.Runtime,
		images:   cfg.Images,
		backoff:  newBackoff(10*time.Second, 300*time.Second),
		pullBack: newBackoff(10*time.Second, 300*time.Second),
		// Two per CPU: enough to overlap the runtime's waits.
		sandboxSlots: make(chan struct{}, 2*numCPU()),
	}
	if cfg.NodeIP != nil {
		kl.hostIPs = []string{cfg.NodeIP.String()}
	}
	broadcaster := record.NewBroadcaster()
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: cfg.Client.CoreV1().Events("")})
	kl.recorder = broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: cfg.NodeName})
	kl.volumes = volume.NewManager(volume.Config{
		RootDir:  filepath.Join(cfg.RootDir, "pods"),
		Client:   cfg.Client,
		NodeName: cfg.NodeName,
		HostIPs:  func() []string { return kl.hostIPs },
		Images:   cfg.ImageViews,
	})
	kl.status = newStatusManager(cfg.Client, kl.statusTarget)
	kl.workers = newPodWorkers(kl)
	kl.admitter = newPodAdmitter()
	kl.probes = newProbeManager(kl)
	return kl, nil
}

// Run registers the node and runs pods until ctx ends. Pods keep running
// when the kubelet stops, as upstream.
func (kl *Kubelet) Run(ctx context.Context) error {
	logger := klog.FromContext(ctx)
	if err := kl.waitRuntime(ctx); err != nil {
		return err
	}
	if err := kl.registerNode(ctx); err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(kl.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {}))
	podFactory := informers.NewSharedInformerFactoryWithOptions(kl.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", kl.cfg.NodeName).String()
		}))
	podInformer := podFactory.Core().V1().Pods()
	kl.podLister = podInformer.Lister()
	kl.svcLister = factory.Core().V1().Services().Lister()
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		// Mirror pods only reflect static pods, which run from their files.
		AddFunc: func(obj any) {
			if pod := obj.(*v1.Pod); !isMirrorPod(pod) {
				kl.workers.update(ctx, pod)
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			pod := obj.(*v1.Pod)
			if isMirrorPod(pod) {
				return
			}
			if onlyStatusChanged(oldObj.(*v1.Pod), pod) {
				// Mostly the kubelet's own status writes: keep the newest
				// pod without a sync.
				kl.workers.store(pod)
				return
			}
			kl.workers.update(ctx, pod)
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*v1.Pod); ok && !isMirrorPod(pod) {
				kl.workers.apiDeleted(ctx, pod.UID)
			}
		},
	})
	factory.Start(ctx.Done())
	// Services feed pods' environment variables; a pod started before they
	// are listed would miss them (CoreDNS then has no KUBERNETES_SERVICE_HOST),
	// so list them before the pods, but never block pods on an API server
	// that does not serve services.
	svcCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	cache.WaitForCacheSync(svcCtx.Done(), factory.Core().V1().Services().Informer().HasSynced)
	cancel()
	podFactory.Start(ctx.Done())
	podFactory.WaitForCacheSync(ctx.Done())
	logger.Info("Kubelet started", "node", kl.cfg.NodeName)
	kl.recorder.Eventf(&v1.ObjectReference{Kind: "Node", Name: kl.cfg.NodeName, UID: types.UID(kl.cfg.NodeName)}, v1.EventTypeNormal, "Starting", "Starting kubelet.")

	go kl.status.run(ctx)
	go kl.runNodeStatus(ctx)
	go kl.runLease(ctx)
	if kl.cfg.StaticPodPath != "" {
		// Static pods first: the relist must not take their containers
		// (left from before a restart) for orphans.
		go kl.runStaticPods(ctx, kl.syncStaticPods(ctx, nil))
	}
	go kl.relist(ctx)
	go newImageGC(kl).run(ctx)
	go kl.runLogRotation(ctx)
	<-ctx.Done()
	kl.workers.wait()
	return nil
}

// waitRuntime waits for the runtime to answer Status with RuntimeReady.
func (kl *Kubelet) waitRuntime(ctx context.Context) error {
	for {
		ready, msg := kl.runtimeStatus(ctx)
		if ready {
			return nil
		}
		klog.FromContext(ctx).Info("Waiting for the container runtime", "status", msg)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// runtimeStatus reports whether the runtime and its network are ready.
func (kl *Kubelet) runtimeStatus(ctx context.Context) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	resp, err := kl.runtime.Status(ctx, false)
	ready, msg := false, ""
	switch {
	case err != nil:
		msg = fmt.Sprintf("container runtime is down: %v", err)
	case resp.GetStatus() == nil:
		msg = "container runtime status is empty"
	default:
		ready = true
		for _, c := range resp.Status.Conditions {
			if !c.Status {
				ready = false
				msg = fmt.Sprintf("container runtime not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message)
				if c.Type == "NetworkReady" {
					msg = fmt.Sprintf("container runtime network not ready: NetworkReady=false reason:%s message:%s", c.Reason, c.Message)
				}
			}
		}
	}
	kl.mu.Lock()
	kl.runtimeReady, kl.runtimeMessage = ready, msg
	kl.mu.Unlock()
	return ready, msg
}

// relist lists the runtime's containers periodically and wakes the pod
// workers whose containers changed, and starts workers for pods the
// runtime has but the API does not (left from before a restart).
func (kl *Kubelet) relist(ctx context.Context) {
	last := map[types.UID]string{}
	ticker := time.NewTicker(kl.cfg.RelistInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		current, err := kl.runtimeFingerprints(ctx)
		if err != nil {
			klog.FromContext(ctx).V(2).Info("Relist failed", "err", err)
			continue
		}
		for uid, fp := range current {
			if last[uid] != fp {
				kl.workers.wake(ctx, uid, true)
			}
		}
		for uid := range last {
			if _, ok := current[uid]; !ok {
				kl.workers.wake(ctx, uid, false)
			}
		}
		last = current
	}
}

// onlyStatusChanged reports an update that changed nothing a sync acts
// on: not the spec, metadata the pod sees, nor conditions others own
// (readiness gates).
func onlyStatusChanged(old, pod *v1.Pod) bool {
	if !apiequality.Semantic.DeepEqual(old.Spec, pod.Spec) || !old.DeletionTimestamp.Equal(pod.DeletionTimestamp) ||
		!apiequality.Semantic.DeepEqual(old.Labels, pod.Labels) || !apiequality.Semantic.DeepEqual(old.Annotations, pod.Annotations) ||
		old.Generation != pod.Generation {
		return false
	}
	foreign := func(p *v1.Pod) []v1.PodCondition {
		var out []v1.PodCondition
		for _, c := range p.Status.Conditions {
			if !slices.Contains(kubeletConditions, c.Type) {
				out = append(out, c)
			}
		}
		return out
	}
	return apiequality.Semantic.DeepEqual(foreign(old), foreign(pod))
}

// statusTarget is the API pod a pod's status goes to: itself, or for a
// static pod its mirror (nil while there is none).
func (kl *Kubelet) statusTarget(pod *v1.Pod) *v1.Pod {
	if !isStaticPod(pod) {
		return pod
	}
	return kl.mirrorOf(pod)
}

// dataDir returns the pod's directory under RootDir.
func (kl *Kubelet) podDir(uid types.UID) string {
	return filepath.Join(kl.cfg.RootDir, "pods", string(uid))
}

// podLogDir is the CRI log directory of a pod.
func (kl *Kubelet) podLogDir(pod *v1.Pod) string {
	return filepath.Join(kl.cfg.PodLogsDir, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// Runtime is the CRI runtime service (for the HTTP server).
func (kl *Kubelet) Runtime() internalapi.RuntimeService { return kl.runtime }

// NodeName is this kubelet's node.
func (kl *Kubelet) NodeName() string { return kl.cfg.NodeName }

// GetPod returns a pod bound to this node from the cache.
func (kl *Kubelet) GetPod(namespace, name string) (*v1.Pod, bool) {
	if kl.podLister == nil {
		return nil, false
	}
	pod, err := kl.podLister.Pods(namespace).Get(name)
	if err != nil {
		return nil, false
	}
	if isMirrorPod(pod) {
		// The mirror's static pod is the one that runs (its UID is the
		// mirror's config hash).
		kl.mu.Lock()
		static := kl.staticPods[types.UID(pod.Annotations[annotationConfigMirror])]
		kl.mu.Unlock()
		if static == nil {
			return nil, false
		}
		return static, true
	}
	return pod, true
}

// Pods lists the pods bound to this node.
func (kl *Kubelet) Pods() []*v1.Pod {
	if kl.podLister == nil {
		return nil
	}
	pods, _ := kl.podLister.List(everything)
	return pods
}
