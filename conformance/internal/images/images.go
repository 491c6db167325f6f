// Package images lists the container images that the Kubernetes v1.37
// [Conformance] tests run, by upstream image ID (test/utils/image), and reads
// the OCI image-layout tars that conformance/hack/images.sh builds for them.
//
// The list was made by reading every file that conformance-1.37.yaml names,
// following the helpers those tests call (e2epod.NewAgnhostPod,
// e2ejob.NewTestJob, apps' AgnhostImage, ...); images_test.go re-checks it
// against the sources on every run. conformance/IMAGES.md explains how each
// image is made.
package images

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	imageutils "k8s.io/kubernetes/test/utils/image"
)

// Image is one image a conformance test runs.
type Image struct {
	ID    imageutils.ImageID
	Const string // the constant's name in test/utils/image (Agnhost, ...)
	Short string // the name conformance/hack/images.sh knows it by
	// Entrypoint and Cmd as upstream's image has them (tests rely on them).
	Entrypoint, Cmd []string
}

// Ref is the exact name e2e.test asks the kubelet for.
func (i Image) Ref() string { return imageutils.GetE2EImage(i.ID) }

// Conformance is every image the conformance tests need to exist on a node.
var Conformance = []Image{
	{ID: imageutils.Agnhost, Const: "Agnhost", Short: "agnhost", Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
	{ID: imageutils.AgnhostPrev, Const: "AgnhostPrev", Short: "agnhost-prev", Entrypoint: []string{"/agnhost"}, Cmd: []string{"pause"}},
	{ID: imageutils.BusyBox, Const: "BusyBox", Short: "busybox", Cmd: []string{"sh"}},
	{ID: imageutils.Pause, Const: "Pause", Short: "pause", Entrypoint: []string{"/pause"}},
	{ID: imageutils.Nginx, Const: "Nginx", Short: "nginx", Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"}},
	{ID: imageutils.Kitten, Const: "Kitten", Short: "kitten", Entrypoint: []string{"/agnhost"}, Cmd: []string{"test-webserver"}},
	{ID: imageutils.Nautilus, Const: "Nautilus", Short: "nautilus", Entrypoint: []string{"/agnhost"}, Cmd: []string{"test-webserver"}},
	{ID: imageutils.Nonewprivs, Const: "Nonewprivs", Short: "nonewprivs", Cmd: []string{"nnp"}},
	{ID: imageutils.GlibcDnsTesting, Const: "GlibcDnsTesting", Short: "glibc-dns-testing", Cmd: []string{"bash"}},
	{ID: imageutils.APIServer, Const: "APIServer", Short: "sample-apiserver", Entrypoint: []string{"/sample-apiserver"}},
	{ID: imageutils.Etcd, Const: "Etcd", Short: "etcd", Entrypoint: []string{"/usr/local/bin/etcd"}},
}

// NotBuilt are image IDs that appear in the conformance tests' files but
// must not (or need not) be built here, with the reason.
var NotBuilt = map[string]string{
	"InvalidRegistryImage": "deliberately unpullable: 'should not be able to pull image from invalid registry' expects the pull to fail",
	"AgnhostPrivate":       "only in the [Provider:gce] 'private image' variants of the ReplicaSet/RC tests, not [Conformance]",
	"NonRoot":              "only in the runAsNonRoot Security Context tests, which are NodeConformance but not [Conformance]",
	"NginxNew":             "only in apimachinery/apply.go, which has no [Conformance] test",
	"IpcUtils":             "only in test/e2e/common/util.go's pre-pull list for node e2e, no [Conformance] test",
	"VolumeNFSServer":      "only in the pre-pull list and NFS volume tests, no [Conformance] test",
}

// Manifest is what a built tar says about itself.
type Manifest struct {
	Name                string   // io.containerd.image.name of index.json
	Entrypoint, Cmd     []string // from the image config
	User, StopSignal    string
	Layers, ConfigBytes int
}

// ReadTar reads index.json, the manifest and the config of an OCI image-layout tar.
func ReadTar(path string) (Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("opening image tar: %w", err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("%s: reading tar: %w", path, err)
		}
		name := strings.TrimPrefix(h.Name, "./")
		// Blobs other than JSON (layers) can be large; keep only small files.
		if h.Typeflag != tar.TypeReg || h.Size > 1<<20 {
			files[name] = nil
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return Manifest{}, fmt.Errorf("%s: reading %s: %w", path, name, err)
		}
		files[name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		return Manifest{}, fmt.Errorf("%s: index.json: %w", path, err)
	}
	if len(index.Manifests) != 1 {
		return Manifest{}, fmt.Errorf("%s: index.json has %d manifests, want 1", path, len(index.Manifests))
	}
	m := Manifest{Name: index.Manifests[0].Annotations["io.containerd.image.name"]}
	blob := func(digest string) ([]byte, error) {
		p := "blobs/" + strings.Replace(digest, ":", "/", 1)
		b, ok := files[p]
		if !ok || b == nil {
			return nil, fmt.Errorf("%s: blob %s missing", path, digest)
		}
		return b, nil
	}
	mb, err := blob(index.Manifests[0].Digest)
	if err != nil {
		return Manifest{}, err
	}
	var man struct {
		Config struct {
			Digest string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(mb, &man); err != nil {
		return Manifest{}, fmt.Errorf("%s: manifest: %w", path, err)
	}
	for _, l := range man.Layers {
		if _, ok := files["blobs/"+strings.Replace(l.Digest, ":", "/", 1)]; !ok {
			return Manifest{}, fmt.Errorf("%s: layer %s missing", path, l.Digest)
		}
	}
	cb, err := blob(man.Config.Digest)
	if err != nil {
		return Manifest{}, err
	}
	var cfg struct {
		Config struct {
			Entrypoint []string `json:"Entrypoint"`
			Cmd        []string `json:"Cmd"`
			User       string   `json:"User"`
			StopSignal string   `json:"StopSignal"`
		} `json:"config"`
	}
	if err := json.Unmarshal(cb, &cfg); err != nil {
		return Manifest{}, fmt.Errorf("%s: config: %w", path, err)
	}
	m.Entrypoint, m.Cmd = cfg.Config.Entrypoint, cfg.Config.Cmd
	m.User, m.StopSignal = cfg.Config.User, cfg.Config.StopSignal
	m.Layers, m.ConfigBytes = len(man.Layers), len(cb)
	return m, nil
}

// ScanDir reads every *.tar in dir: image name -> tar path.
func ScanDir(dir string) (map[string]string, map[string]Manifest, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.tar"))
	if err != nil {
		return nil, nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	sort.Strings(paths)
	byName := map[string]string{}
	mans := map[string]Manifest{}
	for _, p := range paths {
		m, err := ReadTar(p)
		if err != nil {
			return nil, nil, err
		}
		if prev, dup := byName[m.Name]; dup {
			return nil, nil, fmt.Errorf("image %s is in both %s and %s", m.Name, prev, p)
		}
		byName[m.Name] = p
		mans[m.Name] = m
	}
	return byName, mans, nil
}

// MissingImported reads a node's image list as `skiff image ls` prints it
// (a header, then one row per name: NAME ID SIZE) and returns the
// conformance references it lacks: the exact names e2e.test will ask the
// kubelet for, so that a wrong tag fails here rather than as
// ErrImageNeverPull in a test.
func MissingImported(list io.Reader) ([]string, error) {
	have := map[string]bool{}
	data, err := io.ReadAll(list)
	if err != nil {
		return nil, fmt.Errorf("reading the image list: %w", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			have[f[0]] = true
		}
	}
	var missing []string
	for _, img := range Conformance {
		if !have[img.Ref()] {
			missing = append(missing, img.Ref())
		}
	}
	return missing, nil
}
