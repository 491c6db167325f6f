package volume

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/kubernetes/pkg/api/v1/resource"
)

// downwardAPI projects pod fields and container resources as files.
func (sc *setupContext) downwardAPI(name string, src *v1.DownwardAPIVolumeSource) (string, error) {
	dir, err := sc.dir(kindDownwardAPI, name)
	if err != nil {
		return "", err
	}
	files, err := sc.downwardFiles(src.Items, src.DefaultMode)
	if err != nil {
		return "", err
	}
	return dir, writeAtomic(dir, files, fsGroup(sc.pod))
}

func (sc *setupContext) downwardFiles(items []v1.DownwardAPIVolumeFile, defaultMode *int32) (map[string]file, error) {
	files := map[string]file{}
	for _, it := range items {
		var value string
		switch {
		case it.FieldRef != nil:
			v, err := fieldValue(sc.pod, it.FieldRef.FieldPath)
			if err != nil {
				return nil, err
			}
			value = v
		case it.ResourceFieldRef != nil:
			v, err := resourcehelper.ExtractResourceValueByContainerNameAndNodeAllocatable(it.ResourceFieldRef, sc.pod, it.ResourceFieldRef.ContainerName, nodeAllocatable())
			if err != nil {
				return nil, err
			}
			value = v
		}
		files[it.Path] = file{Data: []byte(value), Mode: modeOf(it.Mode, modeOf(defaultMode, 0o644))}
	}
	return files, nil
}

// fieldValue is a downward API volume field.
func fieldValue(pod *v1.Pod, path string) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", path)
}

func subscript(path, prefix string) (string, bool) {
	if strings.HasPrefix(path, prefix+"['") && strings.HasSuffix(path, "']") {
		return strings.TrimSuffix(strings.TrimPrefix(path, prefix+"['"), "']"), true
	}
	return "", false
}

// formatMap is upstream's downward API map format: key="value" lines,
// sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%v=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// nodeAllocatable stands in for unset limits: the machine's CPUs and
// memory.
func nodeAllocatable() v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(numCPU()), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
	}
}
