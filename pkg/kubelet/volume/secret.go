package volume

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// secret projects a Secret's keys as files on a tmpfs, so that they never
// touch the node's disk (as upstream).
func (sc *setupContext) secret(name string, src *v1.SecretVolumeSource) (string, error) {
	dir, err := sc.dir(kindSecret, name)
	if err != nil {
		return "", err
	}
	if err := sc.m.mountTmpfs(sc.pod.UID, dir, 0); err != nil {
		return "", err
	}
	files, err := sc.secretFiles(src.SecretName, src.Items, src.Optional, src.DefaultMode)
	if err != nil {
		return "", err
	}
	return dir, writeAtomic(dir, files, fsGroup(sc.pod))
}

func (sc *setupContext) secretFiles(secretName string, items []v1.KeyToPath, optional *bool, defaultMode *int32) (map[string]file, error) {
	s, err := sc.m.cfg.Client.CoreV1().Secrets(sc.pod.Namespace).Get(sc.ctx, secretName, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			if optional != nil && *optional {
				return map[string]file{}, nil
			}
			return nil, fmt.Errorf("secret %q not found", secretName)
		}
		return nil, fmt.Errorf("get secret %q: %w", secretName, err)
	}
	files, err := project(s.Data, items, modeOf(defaultMode, 0o644), optional, "secret", secretName)
	if err != nil {
		return nil, fmt.Errorf("secret references non-existent secret key: %w", err)
	}
	return files, nil
}
