// Command mkimage writes a reproducible one-layer OCI image-layout tar from
// a root filesystem directory, without a registry, docker or skopeo: the
// same input gives the same digests. `skiff image import` loads the result.
//
//	mkimage -o busybox.tar -name docker.io/library/busybox:latest -rootfs DIR -cmd sh
//	mkimage -o pause.tar -name registry.k8s.io/pause:3.10 -file pause -entrypoint /pause
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// blob is one content-addressed file of the layout.
type blob struct {
	mediaType string
	data      []byte
}

func (b blob) digest() string {
	sum := sha256.Sum256(b.data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

func main() {
	var names, env, cmd, entrypoint stringList
	out := flag.String("o", "", "output tar")
	rootfs := flag.String("rootfs", "", "directory to use as the root filesystem")
	file := flag.String("file", "", "single static binary, placed at /<basename>")
	workdir := flag.String("workdir", "/", "working directory")
	flag.Var(&names, "name", "image name NAME:TAG (repeatable)")
	flag.Var(&env, "env", "KEY=VALUE (repeatable; PATH is always set)")
	flag.Var(&cmd, "cmd", "one argument of Cmd (repeatable)")
	flag.Var(&entrypoint, "entrypoint", "one argument of Entrypoint (repeatable)")
	flag.Parse()
	if *out == "" || len(names) == 0 || (*rootfs == "") == (*file == "") {
		fmt.Fprintln(os.Stderr, "usage: mkimage -o OUT.tar -name NAME:TAG... (-rootfs DIR | -file BINARY) [-entrypoint ARG]... [-cmd ARG]... [-env K=V]...")
		os.Exit(2)
	}
	if err := run(*out, names, *rootfs, *file, *workdir, env, cmd, entrypoint); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out string, names []string, rootfs, file, workdir string, env, cmd, entrypoint []string) error {
	layerTar, err := layer(rootfs, file)
	if err != nil {
		return err
	}
	diffID := blob{data: layerTar}.digest()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.ModTime = time.Unix(0, 0) // no timestamp in the gzip header
	if _, err := zw.Write(layerTar); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	layerBlob := blob{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", data: gz.Bytes()}

	epoch := "1970-01-01T00:00:00Z"
	config := map[string]any{
		"created":      epoch,
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       imageConfig(workdir, env, cmd, entrypoint),
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history":      []map[string]string{{"created": epoch, "created_by": "skiff hack/images/mkimage"}},
	}
	configBlob, err := jsonBlob("application/vnd.oci.image.config.v1+json", config)
	if err != nil {
		return err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        describe(configBlob),
		"layers":        []descriptor{describe(layerBlob)},
	}
	manifestBlob, err := jsonBlob("application/vnd.oci.image.manifest.v1+json", manifest)
	if err != nil {
		return err
	}
	var manifests []descriptor
	for _, name := range names {
		tag := name[strings.LastIndex(name, ":")+1:]
		if !strings.Contains(name, ":") || strings.Contains(tag, "/") {
			return fmt.Errorf("image name %q has no tag", name)
		}
		d := describe(manifestBlob)
		d.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
		d.Annotations = map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
		manifests = append(manifests, d)
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     manifests,
	})
	if err != nil {
		return err
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, b := range []blob{configBlob, layerBlob, manifestBlob} {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + strings.TrimPrefix(b.digest(), "sha256:"), b.data})
	}
	for _, e := range files {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Printf("mkimage: %s -> %s (manifest %s)\n", strings.Join(names, ", "), out, manifestBlob.digest())
	return nil
}

func imageConfig(workdir string, env, cmd, entrypoint []string) map[string]any {
	c := map[string]any{
		"Env":        append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...),
		"WorkingDir": workdir,
	}
	if len(entrypoint) > 0 {
		c["Entrypoint"] = entrypoint
	}
	if len(cmd) > 0 {
		c["Cmd"] = cmd
	}
	return c
}

func describe(b blob) descriptor {
	return descriptor{MediaType: b.mediaType, Digest: b.digest(), Size: int64(len(b.data))}
}

func jsonBlob(mediaType string, v any) (blob, error) {
	data, err := json.Marshal(v)
	return blob{mediaType: mediaType, data: data}, err
}

// layer is the uncompressed layer tar: entries sorted by name, owned by
// root, mtime 0, so the digest depends on the content only. Mount points
// runc needs (/proc, /sys, /dev, /etc, /tmp) are always present.
func layer(rootfs, file string) ([]byte, error) {
	type entry struct {
		hdr  *tar.Header
		path string // source file for regular files
	}
	entries := map[string]entry{}
	dir := func(name string, mode int64) {
		entries[name+"/"] = entry{hdr: &tar.Header{Name: name + "/", Mode: mode, Typeflag: tar.TypeDir}}
	}
	for _, d := range []string{"proc", "sys", "dev", "etc"} {
		dir(d, 0o755)
	}
	dir("tmp", 0o1777)
	if file != "" {
		entries[filepath.Base(file)] = entry{hdr: &tar.Header{Name: filepath.Base(file), Mode: 0o755, Typeflag: tar.TypeReg}, path: file}
	} else {
		err := filepath.WalkDir(rootfs, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == rootfs {
				return err
			}
			rel, _ := filepath.Rel(rootfs, p)
			info, err := d.Info()
			if err != nil {
				return err
			}
			mode := int64(info.Mode().Perm())
			if info.Mode()&fs.ModeSticky != 0 {
				mode |= 0o1000
			}
			switch {
			case d.IsDir():
				dir(rel, mode)
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				entries[rel] = entry{hdr: &tar.Header{Name: rel, Mode: 0o777, Typeflag: tar.TypeSymlink, Linkname: target}}
			case info.Mode().IsRegular():
				entries[rel] = entry{hdr: &tar.Header{Name: rel, Mode: mode, Typeflag: tar.TypeReg}, path: p}
			default:
				return fmt.Errorf("%s: unsupported file type %v", p, info.Mode().Type())
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.ModTime = time.Unix(0, 0)
		e.hdr.Format = tar.FormatPAX
		var data []byte
		if e.path != "" {
			var err error
			if data, err = os.ReadFile(e.path); err != nil {
				return nil, err
			}
			e.hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, err
		}
		if _, err := io.Copy(tw, bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
