package kubelet

import (
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestReadStaticPods(t *testing.T) {
	dir := t.TempDir()
	manifest := "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: busybox}]\n"
	if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("kind: Service\napiVersion: v1\nmetadata: {name: x}\n"), 0o644)
	pods, err := readStaticPods(dir, "Node-1")
	if err != nil || len(pods) != 1 {
		t.Fatalf("pods = %v, %v", pods, err)
	}
	for uid, p := range pods {
		if p.Name != "web-node-1" || p.Namespace != "default" || p.Spec.NodeName != "Node-1" {
			t.Errorf("pod = %s/%s on %s", p.Namespace, p.Name, p.Spec.NodeName)
		}
		if string(uid) != p.Annotations[annotationConfigHash] || p.Annotations[annotationConfigSource] != "file" || !isStaticPod(p) {
			t.Errorf("annotations = %v, uid %s", p.Annotations, uid)
		}
		if p.Spec.RestartPolicy != v1.RestartPolicyAlways || p.Spec.Containers[0].TerminationMessagePath != "/dev/termination-log" {
			t.Errorf("API defaults not applied: %+v", p.Spec)
		}
	}
	again, _ := readStaticPods(dir, "Node-1")
	for uid := range pods {
		if _, ok := again[uid]; !ok {
			t.Error("the UID of an unchanged manifest changed")
		}
	}
	_ = os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(manifest+"  restartPolicy: Never\n"), 0o644)
	changed, _ := readStaticPods(dir, "Node-1")
	for uid := range pods {
		if _, ok := changed[uid]; ok {
			t.Error("an edited manifest kept its UID")
		}
	}
}
