package volume

import (
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
)

// hostPath is a path of the node, checked against its type.
func hostPath(src *v1.HostPathVolumeSource) (string, error) {
	t := v1.HostPathUnset
	if src.Type != nil {
		t = *src.Type
	}
	info, err := os.Stat(src.Path)
	exists := err == nil
	switch t {
	case v1.HostPathUnset:
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(src.Path, 0o755); err != nil {
				return "", err
			}
			return src.Path, nil
		}
		if !info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", src.Path)
		}
	case v1.HostPathDirectory:
		if !exists || !info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", src.Path)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(src.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return "", err
			}
			f.Close()
			return src.Path, nil
		}
		if info.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", src.Path)
		}
	case v1.HostPathFile:
		if !exists || !info.Mode().IsRegular() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", src.Path)
		}
	case v1.HostPathSocket:
		if !exists || info.Mode()&os.ModeSocket == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a socket file", src.Path)
		}
	case v1.HostPathCharDev:
		if !exists || info.Mode()&os.ModeCharDevice == 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a character device", src.Path)
		}
	case v1.HostPathBlockDev:
		if !exists || info.Mode()&os.ModeDevice == 0 || info.Mode()&os.ModeCharDevice != 0 {
			return "", fmt.Errorf("hostPath type check failed: %s is not a block device", src.Path)
		}
	}
	return src.Path, nil
}
