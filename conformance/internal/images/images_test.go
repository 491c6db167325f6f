package images

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	imageutils "k8s.io/kubernetes/test/utils/image"
)

// imagesDir is where conformance/hack/images.sh writes its tars.
func imagesDir() string {
	if d := os.Getenv("CONFORMANCE_IMAGES_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "_output", "conformance", "images")
}

// TestBuiltImages asserts that every conformance image reference resolves to
// a built tar whose index.json names it exactly, with upstream's entrypoint
// and command. It needs the tars: `make conformance-images-verify` builds
// them and sets CONFORMANCE_IMAGES_DIR (then a missing tar fails the test);
// a plain `go test ./...` checks only the tars that exist.
func TestBuiltImages(t *testing.T) {
	dir := imagesDir()
	required := os.Getenv("CONFORMANCE_IMAGES_DIR") != ""
	if _, err := os.Stat(dir); err != nil {
		if required {
			t.Fatalf("CONFORMANCE_IMAGES_DIR=%s: %v (run conformance/hack/images.sh)", dir, err)
		}
		t.Skipf("no built images in %s (run make conformance-images-verify)", dir)
	}
	byName, mans, err := ScanDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range Conformance {
		ref := img.Ref()
		p, ok := byName[ref]
		if !ok && !required {
			t.Logf("%s: not built yet (set CONFORMANCE_IMAGES_DIR to require it)", ref)
			continue
		}
		if !ok {
			t.Errorf("%s (imageutils.%s): no tar in %s names it; run conformance/hack/images.sh %s", ref, img.Const, dir, img.Short)
			continue
		}
		m := mans[ref]
		if !reflect.DeepEqual(m.Entrypoint, img.Entrypoint) || !reflect.DeepEqual(m.Cmd, img.Cmd) {
			t.Errorf("%s (%s): entrypoint %q cmd %q, want entrypoint %q cmd %q", ref, p, m.Entrypoint, m.Cmd, img.Entrypoint, img.Cmd)
		}
		if m.Layers < 1 {
			t.Errorf("%s (%s): no layers", ref, p)
		}
	}
	if ref := imageutils.GetE2EImage(imageutils.InvalidRegistryImage); byName[ref] != "" {
		t.Errorf("%s must not be built: a test expects pulling it to fail", ref)
	}
}

// TestRefs pins the names: the tars are useless if e2e.test asks for others.
func TestRefs(t *testing.T) {
	want := map[string]string{
		"agnhost":           "registry.k8s.io/e2e-test-images/agnhost:2.66.1",
		"agnhost-prev":      "registry.k8s.io/e2e-test-images/agnhost:2.55",
		"busybox":           "registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
		"pause":             "registry.k8s.io/pause:3.10.2",
		"nginx":             "registry.k8s.io/e2e-test-images/nginx:1.27.0-2",
		"kitten":            "registry.k8s.io/e2e-test-images/kitten:1.8",
		"nautilus":          "registry.k8s.io/e2e-test-images/nautilus:1.8",
		"nonewprivs":        "registry.k8s.io/e2e-test-images/nonewprivs:1.4",
		"glibc-dns-testing": "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
		"sample-apiserver":  "registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
		"etcd":              "registry.k8s.io/etcd:3.7.0-0",
	}
	if len(want) != len(Conformance) {
		t.Errorf("%d images listed, %d pinned", len(Conformance), len(want))
	}
	for _, img := range Conformance {
		if got := img.Ref(); got != want[img.Short] {
			t.Errorf("%s: imageutils gives %s, images.sh builds %s", img.Short, got, want[img.Short])
		}
	}
	if os.Getenv("KUBE_TEST_REPO") != "" || os.Getenv("KUBE_TEST_REPO_LIST") != "" {
		t.Errorf("KUBE_TEST_REPO/KUBE_TEST_REPO_LIST are set: e2e.test would ask for other names than the ones built")
	}
}

// The constants' names, from test/utils/image/manifest.go's ImageID block.
var constRE = regexp.MustCompile(`imageutils\.([A-Z][A-Za-z0-9]*)`)

// TestListCoversConformanceSources re-reads the upstream sources of the
// conformance tests (the files conformance-1.37.yaml names, plus the helpers
// they build pods with) and checks that every image constant they mention is
// either built or explained in NotBuilt.
func TestListCoversConformanceSources(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes").Output()
	if err != nil {
		t.Skipf("cannot locate k8s.io/kubernetes sources: %v", err)
	}
	root := strings.TrimSpace(string(out))
	files := map[string]bool{
		// helpers the conformance tests create their pods with
		"test/e2e/apps/types.go":                               true,
		"test/e2e/network/dns_common.go":                       true,
		"test/e2e/network/fixture.go":                          true,
		"test/e2e/framework/pod/resource.go":                   true,
		"test/e2e/framework/pod/utils.go":                      true,
		"test/e2e/framework/job/fixtures.go":                   true,
		"test/e2e/framework/statefulset/fixtures.go":           true,
		"test/e2e/framework/service/jig.go":                    true,
		"test/e2e/framework/network/utils.go":                  true,
		"test/e2e/framework/node/runtimeclass/runtimeclass.go": true,
		"test/e2e/framework/deployment/fixtures.go":            true,
		"test/e2e/framework/replicaset/wait.go":                true,
		"test/e2e/framework/daemonset/fixtures.go":             true,
		"test/e2e/framework/autoscaling/autoscaling_utils.go":  false, // no conformance test autoscales
		"test/e2e/common/util.go":                              false, // node e2e pre-pull list
		"test/e2e/framework/volume/fixtures.go":                false, // NFS/iSCSI servers, no conformance test
		"test/e2e/framework/security/apparmor.go":              false, // AppArmor tests are not conformance
		"test/e2e/framework/registry/registry.go":              false, // private registry tests
		"test/e2e/storage/utils/utils.go":                      false, // NFS provisioner
		"test/e2e/storage/testsuites/subpath.go":               false, // storage test suites run no conformance test
	}
	yaml, err := os.ReadFile("../../testdata/conformance-1.37.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(yaml)))
	for sc.Scan() {
		if f, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "file: "); ok {
			files[f] = true
		}
	}
	built := map[string]bool{}
	for _, img := range Conformance {
		built[img.Const] = true
	}
	notConst := map[string]bool{"GetE2EImage": true, "GetConfig": true, "GetPauseImageName": true, "ImageID": true,
		"Config": true, "GetOriginalImageConfigs": true, "GetImageConfigs": true, "ReplaceRegistryInImageURL": true}
	seen := map[string][]string{}
	var names []string
	for f, scan := range files {
		if !scan {
			continue
		}
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range constRE.FindAllStringSubmatch(string(data), -1) {
			if !notConst[m[1]] {
				seen[m[1]] = append(seen[m[1]], f)
			}
		}
		if strings.Contains(string(data), "GetPauseImageName") {
			seen["Pause"] = append(seen["Pause"], f)
		}
	}
	for c, fs := range seen {
		if !built[c] && NotBuilt[c] == "" {
			t.Errorf("imageutils.%s is used in %v but neither built nor explained in NotBuilt", c, uniq(fs))
		}
	}
	for _, img := range Conformance {
		if len(seen[img.Const]) == 0 {
			t.Errorf("imageutils.%s is built but no scanned conformance source uses it", img.Const)
		}
	}
}

func uniq(s []string) []string {
	m := map[string]bool{}
	var out []string
	for _, x := range s {
		if !m[x] {
			m[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestMissingImported checks the node-side assertion that run.sh makes after
// `skiff image import`: every conformance reference must be listed.
func TestMissingImported(t *testing.T) {
	var b strings.Builder
	b.WriteString("IMAGE   IMAGE ID   SIZE\n")
	for _, img := range Conformance[1:] {
		b.WriteString(img.Ref() + "   0123456789ab   10MB\n")
	}
	b.WriteString("docker.io/library/busybox:latest   0123456789ab   1MB\n")
	missing, err := MissingImported(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{Conformance[0].Ref()}; !reflect.DeepEqual(missing, want) {
		t.Errorf("missing = %v, want %v", missing, want)
	}
	b.WriteString(Conformance[0].Ref() + "   0123456789ab   10MB\n")
	if missing, _ := MissingImported(strings.NewReader(b.String())); len(missing) != 0 {
		t.Errorf("all listed, yet missing = %v", missing)
	}
	// A tag that differs from what e2e.test asks for does not count.
	other := strings.Replace(b.String(), Conformance[3].Ref(), Conformance[3].Ref()+"-x", 1)
	if missing, _ := MissingImported(strings.NewReader(other)); !reflect.DeepEqual(missing, []string{Conformance[3].Ref()}) {
		t.Errorf("mistagged %s: missing = %v", Conformance[3].Ref(), missing)
	}
}
