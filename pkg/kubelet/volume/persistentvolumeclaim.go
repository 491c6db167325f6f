package volume

import (
	"fmt"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// persistentVolumeClaim resolves a bound claim to its volume's path on
// this node: hostPath and local volumes only.
func (sc *setupContext) persistentVolumeClaim(claim string) (string, error) {
	client := sc.m.cfg.Client
	pvc, err := client.CoreV1().PersistentVolumeClaims(sc.pod.Namespace).Get(sc.ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("error processing PVC %s/%s: %w", sc.pod.Namespace, claim, err)
	}
	if pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("PVC %s/%s has not been bound", sc.pod.Namespace, claim)
	}
	pv, err := client.CoreV1().PersistentVolumes().Get(sc.ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get persistent volume %s: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return hostPath(pv.Spec.HostPath)
	case pv.Spec.Local != nil:
		if _, err := os.Stat(pv.Spec.Local.Path); err != nil {
			return "", fmt.Errorf("local volume %s: %w", pv.Name, err)
		}
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistent volume %s: only hostPath and local volumes can be used on this node", pv.Name)
}
