package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// statusManager writes pod statuses to the API server in the background,
// only when they change, as strategic-merge patches of status (with the
// pod's UID as a precondition, as upstream).
type statusManager struct {
	client kubernetes.Interface
	// target maps a pod to the API object its status is written to (a
	// static pod's mirror); nil means not now.
	target func(*v1.Pod) *v1.Pod

	mu      sync.Mutex
	entries map[types.UID]*statusEntry
	wakeCh  chan struct{}
}

type statusEntry struct {
	pod     *v1.Pod
	want    v1.PodStatus
	written *v1.PodStatus
	dirty   bool
}

func newStatusManager(client kubernetes.Interface, target func(*v1.Pod) *v1.Pod) *statusManager {
	if target == nil {
		target = func(p *v1.Pod) *v1.Pod { return p }
	}
	return &statusManager{client: client, target: target, entries: map[types.UID]*statusEntry{}, wakeCh: make(chan struct{}, 1)}
}

// last is the status last written for a pod (nil if none).
func (m *statusManager) last(uid types.UID) *v1.PodStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.entries[uid]; ok && e.written != nil {
		return e.written.DeepCopy()
	}
	return nil
}

// set queues status for writing if it differs from the last one written.
func (m *statusManager) set(pod *v1.Pod, status v1.PodStatus) {
	m.mu.Lock()
	e, ok := m.entries[pod.UID]
	if !ok {
		e = &statusEntry{}
		m.entries[pod.UID] = e
	}
	e.pod = pod
	base := e.written
	if base == nil {
		base = &pod.Status
	}
	if apiequality.Semantic.DeepEqual(*base, status) {
		m.mu.Unlock()
		return
	}
	e.want, e.dirty = status, true
	m.mu.Unlock()
	select {
	case m.wakeCh <- struct{}{}:
	default:
	}
}

// forget drops a pod that is gone.
func (m *statusManager) forget(uid types.UID) {
	m.mu.Lock()
	delete(m.entries, uid)
	m.mu.Unlock()
}

// writeNow writes a status synchronously (the final status of a pod
// being deleted).
func (m *statusManager) writeNow(ctx context.Context, pod *v1.Pod, status v1.PodStatus) error {
	m.mu.Lock()
	base := &pod.Status
	if e, ok := m.entries[pod.UID]; ok && e.written != nil {
		base = e.written
	}
	base = base.DeepCopy()
	m.mu.Unlock()
	if err := m.patch(ctx, pod, base, &status); err != nil {
		return err
	}
	m.mu.Lock()
	if e, ok := m.entries[pod.UID]; ok {
		e.written, e.dirty = status.DeepCopy(), false
	}
	m.mu.Unlock()
	return nil
}

func (m *statusManager) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wakeCh:
		case <-time.After(10 * time.Second):
		}
		m.mu.Lock()
		var todo []*statusEntry
		for _, e := range m.entries {
			if e.dirty {
				todo = append(todo, e)
			}
		}
		m.mu.Unlock()
		var wg sync.WaitGroup
		for _, e := range todo {
			m.mu.Lock()
			pod, want := e.pod, e.want.DeepCopy()
			base := &pod.Status
			if e.written != nil {
				base = e.written
			}
			base = base.DeepCopy()
			m.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := m.patch(ctx, pod, base, want)
				if err != nil {
					if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
						// The pod is gone (or was replaced): nothing to write.
						m.mu.Lock()
						e.dirty = false
						m.mu.Unlock()
						return
					}
					klog.FromContext(ctx).Error(err, "Cannot update pod status", "pod", klog.KObj(pod))
					go func() {
						time.Sleep(time.Second)
						select {
						case m.wakeCh <- struct{}{}:
						default:
						}
					}()
					return
				}
				m.mu.Lock()
				e.written = want
				if apiequality.Semantic.DeepEqual(e.want, *want) {
					e.dirty = false
				}
				m.mu.Unlock()
			}()
		}
		wg.Wait()
	}
}

// patch sends the difference between old and new status.
func (m *statusManager) patch(ctx context.Context, pod *v1.Pod, old, new *v1.PodStatus) error {
	if target := m.target(pod); target == nil {
		return fmt.Errorf("no mirror pod yet for static pod %s/%s", pod.Namespace, pod.Name)
	} else if target != pod {
		pod, old = target, target.Status.DeepCopy()
	}
	oldData, err := json.Marshal(v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: pod.UID}, Status: *old})
	if err != nil {
		return err
	}
	newData, err := json.Marshal(v1.Pod{ObjectMeta: metav1.ObjectMeta{UID: pod.UID}, Status: *new})
	if err != nil {
		return err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, v1.Pod{})
	if err != nil {
		return fmt.Errorf("status patch for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	// The UID makes the patch a precondition: a recreated pod of the same
	// name is never patched with this pod's status.
	patch, err = addUIDPrecondition(patch, pod.UID)
	if err != nil {
		return err
	}
	_, err = m.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}

func addUIDPrecondition(patch []byte, uid types.UID) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return nil, err
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["uid"] = string(uid)
	m["metadata"] = meta
	return json.Marshal(m)
}
