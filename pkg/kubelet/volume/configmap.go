package volume

import (
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// configMap projects a ConfigMap's keys (or the listed items) as files.
func (sc *setupContext) configMap(name string, src *v1.ConfigMapVolumeSource) (string, error) {
	dir, err := sc.dir(kindConfigMap, name)
	if err != nil {
		return "", err
	}
	files, err := sc.configMapFiles(src.Name, src.Items, src.Optional, src.DefaultMode)
	if err != nil {
		return "", err
	}
	return dir, writeAtomic(dir, files, fsGroup(sc.pod))
}

// configMapFiles reads a ConfigMap into files; a missing optional one is
// empty.
func (sc *setupContext) configMapFiles(cmName string, items []v1.KeyToPath, optional *bool, defaultMode *int32) (map[string]file, error) {
	cm, err := sc.m.cfg.Client.CoreV1().ConfigMaps(sc.pod.Namespace).Get(sc.ctx, cmName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional != nil && *optional {
				return map[string]file{}, nil
			}
			return nil, fmt.Errorf("configmap %q not found", cmName)
		}
		return nil, fmt.Errorf("get configmap %q: %w", cmName, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return project(data, items, modeOf(defaultMode, 0o644), optional, "configmap", cmName)
}

// project maps keys to files: all keys, or the items (each may rename and
// set its mode). A listed key that is missing is an error unless optional.
func project(data map[string][]byte, items []v1.KeyToPath, mode os.FileMode, optional *bool, what, name string) (map[string]file, error) {
	files := map[string]file{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = file{Data: v, Mode: mode}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, fmt.Errorf("configmap references non-existent config key: %s", it.Key)
		}
		files[it.Path] = file{Data: v, Mode: modeOf(it.Mode, mode)}
	}
	_ = what
	_ = name
	return files, nil
}

func modeOf(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & 0o777
}
