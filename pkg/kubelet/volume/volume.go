// Package volume sets up pods' volumes on the node: one file per kind
// (emptyDir, configMap, secret, downwardAPI, projected, hostPath,
// persistentVolumeClaim, ephemeral). Contents that come from API objects
// are written atomically (AtomicWriter) and refreshed at every pod sync,
// so that updates reach running pods.
package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// Config is what volumes need from the kubelet.
type Config struct {
	// RootDir holds pods' directories: RootDir/<uid>/volumes/<kind>/<name>.
	RootDir  string
	Client   kubernetes.Interface
	NodeName string
	// HostIPs are the node's IPs (for the downward API).
	HostIPs func() []string
	// Images mounts image volumes; nil: they are refused.
	Images ImageViews
}

// Manager sets up and tears down pods' volumes.
type Manager struct {
	cfg      Config
	tokens   *tokenCache
	podCerts *podCertificates

	mu sync.Mutex
	// mounts are the mounts made per pod (tmpfs, image views), to unmount
	// at teardown.
	mounts map[types.UID][]string
}

// NewManager returns a volume manager.
func NewManager(cfg Config) *Manager {
	return &Manager{cfg: cfg, tokens: newTokenCache(), podCerts: newPodCertificates(), mounts: map[types.UID][]string{}}
}

// kind directory names, upstream's plugin names with / escaped.
const (
	kindEmptyDir    = "kubernetes.io~empty-dir"
	kindConfigMap   = "kubernetes.io~configmap"
	kindSecret      = "kubernetes.io~secret"
	kindDownwardAPI = "kubernetes.io~downward-api"
	kindProjected   = "kubernetes.io~projected"
)

// setupContext is what one volume's set-up sees.
type setupContext struct {
	ctx context.Context
	m   *Manager
	pod *v1.Pod
}

// SetUp makes every volume of pod ready (refreshing contents) and returns
// their host paths by volume name.
func (m *Manager) SetUp(ctx context.Context, pod *v1.Pod) (map[string]string, error) {
	sc := &setupContext{ctx: ctx, m: m, pod: pod}
	paths := make(map[string]string, len(pod.Spec.Volumes))
	var errs []error
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		path, err := sc.setUp(vol)
		if err != nil {
			errs = append(errs, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", vol.Name, err))
			continue
		}
		paths[vol.Name] = path
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		if allWaiting(errs) {
			return nil, &WaitingError{err.Error()}
		}
		return nil, err
	}
	return paths, nil
}

// WaitingError is a volume not ready yet through nobody's fault (a pod
// certificate its signer has not issued yet): the pod waits for it, as
// upstream's volume manager does, without a FailedMount event each retry.
type WaitingError struct{ msg string }

func (e *WaitingError) Error() string { return e.msg }

// IsWaiting reports whether err only says that volumes are not ready yet.
func IsWaiting(err error) bool {
	var w *WaitingError
	return errors.As(err, &w)
}

func allWaiting(errs []error) bool {
	for _, err := range errs {
		if !IsWaiting(err) {
			return false
		}
	}
	return true
}

func (sc *setupContext) setUp(vol *v1.Volume) (string, error) {
	s := vol.VolumeSource
	switch {
	case s.EmptyDir != nil:
		return sc.emptyDir(vol.Name, s.EmptyDir)
	case s.ConfigMap != nil:
		return sc.configMap(vol.Name, s.ConfigMap)
	case s.Secret != nil:
		return sc.secret(vol.Name, s.Secret)
	case s.DownwardAPI != nil:
		return sc.downwardAPI(vol.Name, s.DownwardAPI)
	case s.Projected != nil:
		return sc.projected(vol.Name, s.Projected)
	case s.HostPath != nil:
		return hostPath(s.HostPath)
	case s.PersistentVolumeClaim != nil:
		return sc.persistentVolumeClaim(s.PersistentVolumeClaim.ClaimName)
	case s.Ephemeral != nil:
		// The ephemeral volume controller creates <pod>-<volume> claims.
		return sc.persistentVolumeClaim(sc.pod.Name + "-" + vol.Name)
	case s.Image != nil:
		return sc.image(vol.Name, s.Image)
	}
	return "", fmt.Errorf("volume type not supported on this node")
}

// dir is a volume's directory, created if missing. Like upstream's
// wrapped emptyDir it is world-accessible (0777): containers running as
// any user read their configMap, secret and downward API files (whose own
// modes then decide).
func (sc *setupContext) dir(kind, name string) (string, error) {
	d := filepath.Join(sc.m.cfg.RootDir, string(sc.pod.UID), "volumes", kind, name)
	if err := os.MkdirAll(d, 0o750); err != nil {
		return "", err
	}
	if err := os.Chmod(d, 0o777); err != nil {
		return "", fmt.Errorf("volume directory %s: %w", d, err)
	}
	return d, nil
}

// TearDown unmounts and removes a pod's volumes.
func (m *Manager) TearDown(uid types.UID) error {
	m.mu.Lock()
	mounts := m.mounts[uid]
	delete(m.mounts, uid)
	m.mu.Unlock()
	// Also whatever is still mounted under the pod's directory (e.g. from
	// before an agent restart).
	podDir := filepath.Join(m.cfg.RootDir, string(uid))
	mounts = append(mounts, mountsUnder(podDir)...)
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unmount(mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	m.tokens.forget(uid)
	m.podCerts.forget(uid)
	// Image views go once nothing mounts them; only pods that had image
	// volumes ask containerd.
	if _, err := os.Stat(filepath.Join(podDir, "volumes", kindImage)); err == nil && len(errs) == 0 {
		if err := m.removeImageViews(uid); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(podDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// mountsUnder lists mount points below dir from /proc/self/mountinfo.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

func logger(ctx context.Context) klog.Logger { return klog.FromContext(ctx) }
