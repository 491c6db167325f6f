package localpath

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func claim(modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: modes}}
}

func TestProvisionAndDelete(t *testing.T) {
	p := &Provisioner{Dir: t.TempDir()}
	pv, err := p.Provision(context.Background(), claim(corev1.ReadWriteOnce), StorageClass(), nil, "pvc-1")
	if err != nil {
		t.Fatal(err)
	}
	pv.Name = "pvc-1"
	path := filepath.Join(p.Dir, "pvc-1_ns_data")
	if pv.Spec.HostPath.Path != path || pv.Spec.NodeAffinity != nil {
		t.Errorf("volume = %+v", pv.Spec)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o777 {
		t.Errorf("directory: %v %v", st, err)
	}
	if err := p.Delete(context.Background(), pv); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("directory kept")
	}
}

func TestRefusals(t *testing.T) {
	p := &Provisioner{Dir: t.TempDir()}
	if _, err := p.Provision(context.Background(), claim(corev1.ReadWriteMany), StorageClass(), nil, "pvc-1"); err == nil {
		t.Errorf("ReadWriteMany accepted")
	}
	outside := t.TempDir()
	pv := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pvc-2"},
		Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: outside}}}}
	if err := p.Delete(context.Background(), pv); err == nil {
		t.Errorf("deleting a directory outside the storage dir was allowed")
	}
	if _, err := os.Stat(outside); err != nil {
		t.Errorf("outside directory removed")
	}
}
