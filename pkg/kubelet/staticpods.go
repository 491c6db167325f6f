package kubelet

import (
	"context"
	"crypto/md5" //nolint:gosec // a content hash, as upstream's static pod UIDs
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	k8s_api_v1 "k8s.io/kubernetes/pkg/apis/core/v1"
)

// Upstream's annotations of static and mirror pods.
const (
	annotationConfigSource = "kubernetes.io/config.source"
	annotationConfigHash   = "kubernetes.io/config.hash"
	annotationConfigSeen   = "kubernetes.io/config.seen"
	annotationConfigMirror = "kubernetes.io/config.mirror"
	staticPodPollInterval  = 5 * time.Second
)

func isMirrorPod(pod *v1.Pod) bool {
	_, ok := pod.Annotations[annotationConfigMirror]
	return ok
}

func isStaticPod(pod *v1.Pod) bool {
	return pod.Annotations[annotationConfigSource] == "file"
}

// readStaticPods reads the pod manifests of dir (YAML or JSON, one pod
// per file) the way upstream's file source does: the name gets the node
// name appended, the UID is a hash of the content, the namespace defaults
// to "default", and the pod is bound to this node.
func readStaticPods(dir, nodeName string) (map[types.UID]*v1.Pod, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	pods := map[types.UID]*v1.Pod{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || !(strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json")) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			klog.ErrorS(err, "Cannot read a static pod manifest", "file", name)
			continue
		}
		pod, err := decodeStaticPod(data, nodeName, filepath.Join(dir, name))
		if err != nil {
			klog.ErrorS(err, "Invalid static pod manifest", "file", name)
			continue
		}
		pods[pod.UID] = pod
	}
	return pods, nil
}

func decodeStaticPod(data []byte, nodeName, source string) (*v1.Pod, error) {
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		return nil, err
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, not a Pod", source, obj)
	}
	// API defaults, as the API server would apply them to a created pod.
	defaults := runtime.NewScheme()
	if err := k8s_api_v1.AddToScheme(defaults); err == nil {
		defaults.Default(pod)
	}
	sum := md5.Sum(append(append([]byte{}, data...), []byte(nodeName)...)) //nolint:gosec
	hash := hex.EncodeToString(sum[:])
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.Name = pod.Name + "-" + strings.ToLower(nodeName)
	pod.UID = types.UID(hash)
	pod.Spec.NodeName = nodeName
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[annotationConfigHash] = hash
	pod.Annotations[annotationConfigSource] = "file"
	pod.Annotations[annotationConfigSeen] = time.Now().UTC().Format(time.RFC3339Nano)
	pod.CreationTimestamp = metav1.Now()
	return pod, nil
}

// runStaticPods polls the manifest directory, runs its pods and keeps a
// mirror pod in the API for each. current is what the first (synchronous)
// sync found.
func (kl *Kubelet) runStaticPods(ctx context.Context, current map[types.UID]*v1.Pod) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(staticPodPollInterval):
		}
		current = kl.syncStaticPods(ctx, current)
	}
}

// syncStaticPods starts new or changed static pods, stops removed ones
// and keeps their mirrors; it returns the pods now current.
func (kl *Kubelet) syncStaticPods(ctx context.Context, current map[types.UID]*v1.Pod) map[types.UID]*v1.Pod {
	pods, err := readStaticPods(kl.cfg.StaticPodPath, kl.cfg.NodeName)
	if err != nil {
		klog.FromContext(ctx).Error(err, "Cannot read static pods", "dir", kl.cfg.StaticPodPath)
		return current
	}
	for uid, pod := range pods {
		if _, ok := current[uid]; !ok {
			kl.setStaticPod(pod)
			kl.workers.update(ctx, pod)
		}
		kl.ensureMirrorPod(ctx, pod)
	}
	var gone []types.UID
	for uid := range current {
		if _, ok := pods[uid]; !ok {
			gone = append(gone, uid)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	for _, uid := range gone {
		kl.workers.apiDeleted(ctx, uid)
		kl.deleteMirrorPod(ctx, current[uid])
		kl.setStaticPod(nil, uid)
	}
	return pods
}

// setStaticPod remembers a static pod (or forgets uid).
func (kl *Kubelet) setStaticPod(pod *v1.Pod, uid ...types.UID) {
	kl.mu.Lock()
	defer kl.mu.Unlock()
	if kl.staticPods == nil {
		kl.staticPods = map[types.UID]*v1.Pod{}
	}
	if pod != nil {
		kl.staticPods[pod.UID] = pod
	}
	for _, u := range uid {
		delete(kl.staticPods, u)
	}
}

// ensureMirrorPod creates the API's mirror of a static pod, replacing a
// mirror of an older version.
func (kl *Kubelet) ensureMirrorPod(ctx context.Context, pod *v1.Pod) {
	pods := kl.client.CoreV1().Pods(pod.Namespace)
	existing, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
	switch {
	case err == nil && existing.Annotations[annotationConfigMirror] == pod.Annotations[annotationConfigHash] && existing.DeletionTimestamp == nil:
		return
	case err == nil:
		if existing.DeletionTimestamp == nil || isMirrorPod(existing) {
			_ = pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64), Preconditions: &metav1.Preconditions{UID: &existing.UID}})
		}
		return // created at the next poll, once the old one is gone
	case !apierrors.IsNotFound(err):
		klog.FromContext(ctx).Error(err, "Cannot read the mirror pod", "pod", klog.KObj(pod))
		return
	}
	mirror := pod.DeepCopy()
	mirror.UID, mirror.ResourceVersion, mirror.CreationTimestamp = "", "", metav1.Time{}
	mirror.Annotations[annotationConfigMirror] = pod.Annotations[annotationConfigHash]
	if node, err := kl.client.CoreV1().Nodes().Get(ctx, kl.cfg.NodeName, metav1.GetOptions{}); err == nil {
		mirror.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptrTo(true)}}
	}
	if _, err := pods.Create(ctx, mirror, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		klog.FromContext(ctx).Error(err, "Cannot create the mirror pod", "pod", klog.KObj(pod))
	}
}

func (kl *Kubelet) deleteMirrorPod(ctx context.Context, pod *v1.Pod) {
	err := kl.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		klog.FromContext(ctx).Error(err, "Cannot delete the mirror pod", "pod", klog.KObj(pod))
	}
}

// mirrorOf is the API's mirror of a static pod, if it exists.
func (kl *Kubelet) mirrorOf(pod *v1.Pod) *v1.Pod {
	if kl.podLister == nil {
		return nil
	}
	m, err := kl.podLister.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || !isMirrorPod(m) || m.Annotations[annotationConfigMirror] != pod.Annotations[annotationConfigHash] {
		return nil
	}
	return m
}

func ptrTo[T any](v T) *T { return &v }
