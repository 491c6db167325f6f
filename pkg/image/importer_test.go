package image

import (
	"archive/tar"
	"os"
	"path/filepath"
	"testing"
)

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                        "docker.io/library/busybox:latest",
		"busybox:1.36":                   "docker.io/library/busybox:1.36",
		"me/app":                         "docker.io/me/app:latest",
		"registry.k8s.io/pause:3.10":     "registry.k8s.io/pause:3.10",
		"localhost:5000/x":               "localhost:5000/x:latest",
		"example.local/absent@sha256:ab": "example.local/absent@sha256:ab",
	} {
		if got := NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
	if got := digestName("docker.io/library/busybox:latest", "sha256:1"); got != "docker.io/library/busybox@sha256:1" {
		t.Errorf("digestName = %s", got)
	}
}

func TestChainIDs(t *testing.T) {
	got := chainIDs([]string{"sha256:a", "sha256:b"})
	// chain(1) = sha256("sha256:a sha256:b"), as containerd's identity.ChainID.
	if got[0] != "sha256:a" || got[1] != "sha256:970a948bffa8de94d6e22d747ba8c95030e6e546909f98f54e99a13005e173a8" {
		t.Errorf("chain IDs = %v", got)
	}
}

func writeTar(t *testing.T, files map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "img.tar")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for name, body := range files {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		_, _ = tw.Write([]byte(body))
	}
	tw.Close()
	f.Close()
	return path
}

func TestArchiveNames(t *testing.T) {
	oci := writeTar(t, map[string]string{
		"oci-layout": `{"imageLayoutVersion":"1.0.0"}`,
		"index.json": `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:00","size":1,"annotations":{"io.containerd.image.name":"busybox:latest"}},{"digest":"sha256:01","annotations":{"org.opencontainers.image.ref.name":"1.0"}}]}`,
	})
	names, err := ArchiveNames(oci)
	if err != nil || len(names) != 1 || names[0] != "docker.io/library/busybox:latest" {
		t.Errorf("OCI names = %v, %v (a bare ref.name tag is not a name)", names, err)
	}
	docker := writeTar(t, map[string]string{
		"manifest.json": `[{"Config":"c.json","RepoTags":["app:v1"],"Layers":["l/layer.tar"]}]`,
		"c.json":        `{"rootfs":{"diff_ids":["sha256:x"]}}`,
		"l/layer.tar":   "layer",
	})
	names, err = ArchiveNames(docker)
	if err != nil || len(names) != 1 || names[0] != "docker.io/library/app:v1" {
		t.Errorf("docker-archive names = %v, %v", names, err)
	}
	if _, err := ArchiveNames(writeTar(t, map[string]string{"x": "y"})); err == nil {
		t.Error("an archive without index.json or manifest.json was accepted")
	}
}
