package kubelet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

var everything = labels.Everything()

// podWorkers keeps one worker goroutine per pod UID.
type podWorkers struct {
	kl *Kubelet
	mu sync.Mutex
	m  map[types.UID]*podWorker
	wg sync.WaitGroup
}

// podWorker owns everything the kubelet does for one pod.
type podWorker struct {
	uid types.UID

	mu sync.Mutex
	// pod is the latest spec from the API; lastPod survives its deletion.
	pod     *v1.Pod
	lastPod *v1.Pod
	// deleted is set when the API object is gone.
	deleted bool
	wakeCh  chan struct{}

	// Owned by the worker goroutine only:
	waiting    map[string]waitingReason
	terminal   bool
	terminated bool // containers killed for deletion
	// deadlineExceeded is set once activeDeadlineSeconds passed.
	deadlineExceeded bool
	lastStatus       *v1.PodStatus
	// lastSync is when a full sync last ran, for periodic work.
	lastVolumeSync time.Time
}

func newPodWorkers(kl *Kubelet) *podWorkers {
	return &podWorkers{kl: kl, m: map[types.UID]*podWorker{}}
}

// update hands the latest pod to its worker, starting one if needed.
func (p *podWorkers) update(ctx context.Context, pod *v1.Pod) {
	p.mu.Lock()
	w, ok := p.m[pod.UID]
	if !ok {
		w = &podWorker{uid: pod.UID, wakeCh: make(chan struct{}, 1), waiting: map[string]waitingReason{}}
		p.m[pod.UID] = w
		p.wg.Add(1)
		go p.run(ctx, w)
	}
	p.mu.Unlock()
	w.mu.Lock()
	w.pod, w.lastPod = pod, pod
	w.mu.Unlock()
	w.wake()
}

// store keeps the newest pod for its worker without waking it.
func (p *podWorkers) store(pod *v1.Pod) {
	p.mu.Lock()
	w, ok := p.m[pod.UID]
	p.mu.Unlock()
	if !ok {
		return
	}
	w.mu.Lock()
	if w.pod != nil {
		w.pod, w.lastPod = pod, pod
	}
	w.mu.Unlock()
}

// apiDeleted tells the worker its pod is gone from the API.
func (p *podWorkers) apiDeleted(ctx context.Context, uid types.UID) {
	p.mu.Lock()
	w, ok := p.m[uid]
	p.mu.Unlock()
	if !ok {
		return
	}
	w.mu.Lock()
	w.pod, w.deleted = nil, true
	w.mu.Unlock()
	w.wake()
}

// wake nudges a pod's worker; orphan starts a cleanup worker for a pod
// the runtime has and the API does not.
func (p *podWorkers) wake(ctx context.Context, uid types.UID, orphan bool) {
	p.mu.Lock()
	w, ok := p.m[uid]
	if !ok && orphan {
		if pod := p.kl.findPodByUID(uid); pod != nil {
			p.mu.Unlock()
			p.update(ctx, pod)
			return
		}
		w = &podWorker{uid: uid, wakeCh: make(chan struct{}, 1), deleted: true, waiting: map[string]waitingReason{}}
		p.m[uid] = w
		p.wg.Add(1)
		go p.run(ctx, w)
	}
	p.mu.Unlock()
	if w != nil {
		w.wake()
	}
}

func (w *podWorker) wake() {
	select {
	case w.wakeCh <- struct{}{}:
	default:
	}
}

// current returns the pod to sync (nil when deleted from the API) and the
// last pod seen.
func (w *podWorker) current() (pod, last *v1.Pod, deleted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod, w.lastPod, w.deleted
}

func (p *podWorkers) run(ctx context.Context, w *podWorker) {
	defer p.wg.Done()
	logger := klog.FromContext(ctx).WithValues("podUID", w.uid)
	ctx = klog.NewContext(ctx, logger)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wakeCh:
		case <-timer.C:
		}
		next, done := p.kl.syncPod(ctx, w)
		if done {
			p.mu.Lock()
			// A pod recreated with the same UID cannot exist; a new update
			// may have raced in though: keep the worker if so.
			w.mu.Lock()
			revived := w.pod != nil && !w.deleted
			w.mu.Unlock()
			if !revived {
				delete(p.m, w.uid)
				p.mu.Unlock()
				p.kl.probes.removePod(w.uid)
				p.kl.status.forget(w.uid)
				logger.V(2).Info("Pod worker finished")
				return
			}
			p.mu.Unlock()
			next = 0
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// wait waits for all workers to return after the context ended.
func (p *podWorkers) wait() { p.wg.Wait() }

// findPodByUID looks for a pod in the cache (or the static pods).
func (kl *Kubelet) findPodByUID(uid types.UID) *v1.Pod {
	kl.mu.Lock()
	static := kl.staticPods[uid]
	kl.mu.Unlock()
	if static != nil {
		return static
	}
	for _, pod := range kl.Pods() {
		if pod.UID == uid {
			return pod
		}
	}
	return nil
}

// runtimeFingerprints summarizes each pod's sandboxes and containers so
// that changes can be spotted between two lists.
func (kl *Kubelet) runtimeFingerprints(ctx context.Context) (map[types.UID]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sandboxes, err := kl.runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		return nil, err
	}
	containers, err := kl.runtime.ListContainers(ctx, nil)
	if err != nil {
		return nil, err
	}
	parts := map[types.UID][]string{}
	for _, s := range sandboxes {
		uid := types.UID(s.Labels[labelPodUID])
		if uid == "" {
			continue
		}
		parts[uid] = append(parts[uid], fmt.Sprintf("s:%s:%d", s.Id, s.State))
	}
	for _, c := range containers {
		uid := types.UID(c.Labels[labelPodUID])
		if uid == "" {
			continue
		}
		parts[uid] = append(parts[uid], fmt.Sprintf("c:%s:%d", c.Id, c.State))
	}
	out := make(map[types.UID]string, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		out[uid] = strings.Join(p, ",")
	}
	return out, nil
}

// isRunningState says whether a runtime container still runs.
func isRunningState(s runtimeapi.ContainerState) bool {
	return s == runtimeapi.ContainerState_CONTAINER_RUNNING || s == runtimeapi.ContainerState_CONTAINER_CREATED
}
