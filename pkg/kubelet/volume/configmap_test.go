package volume

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestConfigMapVolumeReadableByAnyUser: the volume directory is 0777 and
// the files 0644 (the default mode), so a container running as a non-root
// user reads them, as upstream.
func TestConfigMapVolumeReadableByAnyUser(t *testing.T) {
	client := fake.NewClientset(&v1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cm"}, Data: map[string]string{"data-1": "value-1"}})
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "uid-1"}}
	sc := &setupContext{ctx: context.Background(), m: NewManager(Config{Client: client, RootDir: t.TempDir()}), pod: pod}
	dir, err := sc.configMap("cfg", &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o777 {
		t.Errorf("volume directory mode = %v, want 0777", st.Mode().Perm())
	}
	fst, err := os.Stat(filepath.Join(dir, "data-1"))
	if err != nil {
		t.Fatal(err)
	}
	if fst.Mode().Perm()&0o004 == 0 {
		t.Errorf("file mode = %v, not readable by others", fst.Mode().Perm())
	}
}
