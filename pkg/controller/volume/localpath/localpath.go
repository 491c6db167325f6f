// Package localpath is skiff's in-process local-path provisioner, as
// k3s ships: the default StorageClass "local-path" (provisioner
// rancher.io/local-path, WaitForFirstConsumer, reclaim Delete) gets
// hostPath PersistentVolumes in directories under a base directory,
// pinned to the node the scheduler selected. The persistent-volume binder
// calls it; it creates the directory when provisioning (the kubelet also
// creates it, hostPath type DirectoryOrCreate) and removes it when the
// volume is deleted.
package localpath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

const (
	// ProvisionerName is the StorageClass provisioner it serves (k3s's).
	ProvisionerName = "rancher.io/local-path"
	// StorageClassName is the default StorageClass.
	StorageClassName = "local-path"
	// annSelectedNode records the node on the volume (k3s's annotation).
	annSelectedNode = "local.path.provisioner/selected-node"
)

// Provisioner makes hostPath volumes under Dir.
type Provisioner struct {
	Dir string
}

// Name is the provisioner name.
func (p *Provisioner) Name() string { return ProvisionerName }

// Provision returns a hostPath volume for the claim in
// <Dir>/<pvName>_<namespace>_<claim>, with node affinity to node.
func (p *Provisioner) Provision(_ context.Context, claim *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, node *corev1.Node, pvName string) (*corev1.PersistentVolume, error) {
	for _, m := range claim.Spec.AccessModes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return nil, fmt.Errorf("NodePath only supports ReadWriteOnce and ReadWriteOncePod (1.22+) access modes")
		}
	}
	if claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		return nil, fmt.Errorf("local-path does not support block volumes")
	}
	if p.Dir == "" {
		return nil, fmt.Errorf("no local-path directory is configured")
	}
	path := filepath.Join(p.Dir, fmt.Sprintf("%s_%s_%s", pvName, claim.Namespace, claim.Name))
	if err := os.MkdirAll(path, 0o777); err != nil {
		return nil, fmt.Errorf("create volume directory %s: %w", path, err)
	}
	// World-writable like k3s's, whatever the umask: pods run as any user.
	if err := os.Chmod(path, 0o777); err != nil {
		return nil, fmt.Errorf("make volume directory %s writable: %w", path, err)
	}
	reclaim := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		reclaim = *class.ReclaimPolicy
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: pvName, Annotations: map[string]string{}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: reclaim,
			StorageClassName:              class.Name,
			MountOptions:                  class.MountOptions,
			VolumeMode:                    ptr.To(corev1.PersistentVolumeFilesystem),
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
			},
		},
	}
	if node != nil {
		hostname := node.Labels[corev1.LabelHostname]
		if hostname == "" {
			hostname = node.Name
		}
		pv.Annotations[annSelectedNode] = node.Name
		pv.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{
				Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{hostname},
			}}}},
		}}
	}
	return pv, nil
}

// Delete removes the volume's directory; only directories directly
// under Dir are ever removed.
func (p *Provisioner) Delete(_ context.Context, pv *corev1.PersistentVolume) error {
	if pv.Spec.HostPath == nil {
		return fmt.Errorf("volume %s is not a hostPath volume", pv.Name)
	}
	path := filepath.Clean(pv.Spec.HostPath.Path)
	if filepath.Dir(path) != filepath.Clean(p.Dir) || !strings.HasPrefix(filepath.Base(path), pv.Name+"_") {
		return fmt.Errorf("volume %s path %s is not a local-path volume directory under %s", pv.Name, path, p.Dir)
	}
	if err := os.RemoveAll(path); err != nil {
		return fmt.Errorf("remove volume directory %s: %w", path, err)
	}
	return nil
}

// StorageClass is the default local-path StorageClass (k3s's).
func StorageClass() *storagev1.StorageClass {
	return &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClassName,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       ProvisionerName,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingWaitForFirstConsumer),
	}
}

// EnsureStorageClass creates the local-path StorageClass if it does not
// exist; an existing one (possibly edited by the user) is left alone.
func EnsureStorageClass(ctx context.Context, client kubernetes.Interface) error {
	_, err := client.StorageV1().StorageClasses().Create(ctx, StorageClass(), metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClassName, err)
	}
	return nil
}
