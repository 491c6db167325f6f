// Package image loads image tars into containerd without a registry.
//
// It talks to containerd's own content, images, snapshots, diff and leases
// services (github.com/containerd/containerd/api) rather than through the
// containerd client library: the client pulls in newer versions of grpc,
// otel and golang.org/x modules than the Kubernetes libraries pin, while the
// API module adds only its generated stubs. Importing is what `ctr images
// import` does: write the blobs to the content store with the labels that
// keep them from garbage collection, unpack the layers into the snapshotter
// the CRI uses, then create (or move) the image records.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	diffapi "github.com/containerd/containerd/api/services/diff/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	leasesapi "github.com/containerd/containerd/api/services/leases/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/api/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

const (
	// Namespace is the containerd namespace the CRI plugin uses.
	Namespace = "k8s.io"
	// Snapshotter is the CRI's snapshotter in skiff's containerd config.
	Snapshotter = "overlayfs"

	mediaTypeOCIIndex     = "application/vnd.oci.image.index.v1+json"
	mediaTypeOCIManifest  = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeDockerList   = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeDockerManif  = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
	mediaTypeDockerLayer  = "application/vnd.docker.image.rootfs.diff.tar"

	// LabelPinned marks an image the kubelet's image garbage collection
	// keeps (containerd >= 1.7's CRI reports such images as pinned; skiff's
	// kubelet reads the label itself).
	LabelPinned = "io.cri-containerd.pinned"

	labelGCRefContent = "containerd.io/gc.ref.content"
	labelGCSnapshot   = "containerd.io/gc.ref.snapshot." + Snapshotter
	labelUncompressed = "containerd.io/uncompressed"
	labelGCExpire     = "containerd.io/gc.expire"
	labelSnapshotRef  = "containerd.io/snapshot.ref"
	annotationName    = "io.containerd.image.name"
	annotationRefName = "org.opencontainers.image.ref.name"
)

// Client is a connection to one containerd's services.
type Client struct {
	conn      *grpc.ClientConn
	content   contentapi.ContentClient
	images    imagesapi.ImagesClient
	snapshots snapshotsapi.SnapshotsClient
	diff      diffapi.DiffClient
	leases    leasesapi.LeasesClient
}

// Dial connects to containerd's gRPC socket.
func Dial(socket string) (*Client, error) {
	conn, err := grpc.NewClient("unix://"+socket,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20), grpc.MaxCallSendMsgSize(16<<20)))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", socket, err)
	}
	return &Client{
		conn:      conn,
		content:   contentapi.NewContentClient(conn),
		images:    imagesapi.NewImagesClient(conn),
		snapshots: snapshotsapi.NewSnapshotsClient(conn),
		diff:      diffapi.NewDiffClient(conn),
		leases:    leasesapi.NewLeasesClient(conn),
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// namespaced puts the CRI's namespace in the request metadata.
func namespaced(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "containerd-namespace", Namespace)
}

// descriptor is an OCI content descriptor as it appears in the JSON files.
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
	Variant      string `json:"variant,omitempty"`
}

type index struct {
	MediaType string       `json:"mediaType,omitempty"`
	Manifests []descriptor `json:"manifests"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type imageConfig struct {
	RootFS struct {
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// dockerManifestEntry is one image of a docker-archive's manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// archive is what the first pass learns about a tar: every regular file's
// digest and size, and the small JSON documents.
type archive struct {
	path  string
	files map[string]descriptor // tar path -> digest, size
	small map[string][]byte     // JSON documents (index, manifests, configs)
	// blobs maps digests to the tar path that holds them.
	blobs map[string]string
	// generated are blobs skiff made itself (docker-archive manifests).
	generated map[string][]byte
}

// Import loads an OCI image layout or docker-archive tar and returns the
// image names it created or moved. Progress lines go to progress.
func (c *Client) Import(ctx context.Context, file string, progress io.Writer) ([]string, error) {
	ctx = namespaced(ctx)
	a, err := scan(file)
	if err != nil {
		return nil, err
	}
	images, err := a.images()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if len(images) == 0 {
		return nil, fmt.Errorf("%s: no named image in the archive (OCI index.json entries need an %s annotation)", file, annotationName)
	}
	// A lease keeps everything written here from garbage collection until
	// the image records reference it.
	lease, err := c.leases.Create(ctx, &leasesapi.CreateRequest{ID: fmt.Sprintf("skiff-import-%d", time.Now().UnixNano()), Labels: map[string]string{
		labelGCExpire: time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	}})
	if err != nil {
		return nil, fmt.Errorf("create containerd lease: %w", err)
	}
	defer func() {
		_, _ = c.leases.Delete(context.WithoutCancel(ctx), &leasesapi.DeleteRequest{ID: lease.Lease.ID})
	}()
	ctx = metadata.AppendToOutgoingContext(ctx, "containerd-lease", lease.Lease.ID)

	var names []string
	for _, img := range images {
		m, mdesc, err := a.platformManifest(img.target)
		if err != nil {
			return nil, fmt.Errorf("%s: image %s: %w", file, img.name, err)
		}
		var cfg imageConfig
		if err := json.Unmarshal(a.small[a.blobs[m.Config.Digest]], &cfg); err != nil {
			return nil, fmt.Errorf("%s: image %s: config %s: %w", file, img.name, m.Config.Digest, err)
		}
		if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
			return nil, fmt.Errorf("%s: image %s: %d layers but %d diff_ids", file, img.name, len(m.Layers), len(cfg.RootFS.DiffIDs))
		}
		chain := chainIDs(cfg.RootFS.DiffIDs)
		// Children first, parents last, each parent labelled with its children.
		for i, l := range m.Layers {
			if err := c.writeBlob(ctx, a, l, map[string]string{labelUncompressed: cfg.RootFS.DiffIDs[i]}); err != nil {
				return nil, err
			}
		}
		if err := c.writeBlob(ctx, a, m.Config, map[string]string{labelGCSnapshot: chain[len(chain)-1]}); err != nil {
			return nil, err
		}
		mlabels := map[string]string{labelGCRefContent + ".config": m.Config.Digest}
		for i, l := range m.Layers {
			mlabels[fmt.Sprintf("%s.l.%d", labelGCRefContent, i)] = l.Digest
		}
		if err := c.writeBlob(ctx, a, mdesc, mlabels); err != nil {
			return nil, err
		}
		if img.target.Digest != mdesc.Digest {
			if err := c.writeIndex(ctx, a, img.target); err != nil {
				return nil, err
			}
		}
		if err := c.unpack(ctx, m.Layers, cfg.RootFS.DiffIDs, chain); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", img.name, err)
		}
		if err := c.putImage(ctx, img.name, img.target); err != nil {
			return nil, err
		}
		// A name@digest record too, as a pull leaves: the CRI then reports
		// repo digests and a digested image reference (status.imageID).
		if err := c.putImage(ctx, digestName(img.name, img.target.Digest), img.target); err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "%s: %s (%s) imported\n", path.Base(file), img.name, img.target.Digest)
		names = append(names, img.name)
	}
	return names, nil
}

// scan reads the tar once: digests of all files, and the JSON documents.
func scan(file string) (*archive, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a := &archive{path: file, files: map[string]descriptor{}, small: map[string][]byte{}, blobs: map[string]string{}, generated: map[string][]byte{}}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		hash := sha256.New()
		var keep []byte
		var r io.Reader = tr
		if h.Size <= 4<<20 { // JSON documents are small: keep the ones that parse
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read %s in %s: %w", name, file, err)
			}
			if json.Valid(data) {
				keep = data
			}
			r = bytes.NewReader(data)
		}
		n, err := io.Copy(hash, r)
		if err != nil {
			return nil, fmt.Errorf("read %s in %s: %w", name, file, err)
		}
		d := descriptor{Digest: "sha256:" + hex.EncodeToString(hash.Sum(nil)), Size: n}
		a.files[name] = d
		a.blobs[d.Digest] = name
		if keep != nil {
			a.small[name] = keep
		}
	}
	return a, nil
}

type namedImage struct {
	name   string
	target descriptor
}

// images lists the named images of an OCI layout (index.json) or a
// docker-archive (manifest.json).
func (a *archive) images() ([]namedImage, error) {
	if data, ok := a.small["index.json"]; ok {
		var idx index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, fmt.Errorf("index.json: %w", err)
		}
		var out []namedImage
		for _, d := range idx.Manifests {
			name := d.Annotations[annotationName]
			if name == "" {
				// A full reference in ref.name is accepted too; a bare tag is not a name.
				if ref := d.Annotations[annotationRefName]; strings.Contains(ref, "/") {
					name = ref
				}
			}
			if name == "" {
				continue
			}
			out = append(out, namedImage{name: NormalizeName(name), target: d})
		}
		return out, nil
	}
	data, ok := a.small["manifest.json"]
	if !ok {
		return nil, errors.New("neither an OCI image layout (index.json) nor a docker archive (manifest.json)")
	}
	var entries []dockerManifestEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []namedImage
	for _, e := range entries {
		cfg, ok := a.files[path.Clean(e.Config)]
		if !ok {
			return nil, fmt.Errorf("manifest.json: config %s not in the archive", e.Config)
		}
		m := manifest{SchemaVersion: 2, MediaType: mediaTypeDockerManif,
			Config: descriptor{MediaType: mediaTypeDockerConfig, Digest: cfg.Digest, Size: cfg.Size}}
		for _, l := range e.Layers {
			ld, ok := a.files[path.Clean(l)]
			if !ok {
				return nil, fmt.Errorf("manifest.json: layer %s not in the archive", l)
			}
			m.Layers = append(m.Layers, descriptor{MediaType: mediaTypeDockerLayer, Digest: ld.Digest, Size: ld.Size})
		}
		data, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		d := descriptor{MediaType: mediaTypeDockerManif, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
		a.generated[d.Digest] = data
		for _, tag := range e.RepoTags {
			out = append(out, namedImage{name: NormalizeName(tag), target: d})
		}
	}
	return out, nil
}

// document returns a JSON blob of the archive (or one skiff generated).
func (a *archive) document(digest string) ([]byte, error) {
	if data, ok := a.generated[digest]; ok {
		return data, nil
	}
	name, ok := a.blobs[digest]
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the archive", digest)
	}
	data, ok := a.small[name]
	if !ok {
		return nil, fmt.Errorf("blob %s is not a JSON document", digest)
	}
	return data, nil
}

// platformManifest resolves target (a manifest, or an index) to the
// manifest for this machine's platform.
func (a *archive) platformManifest(target descriptor) (*manifest, descriptor, error) {
	data, err := a.document(target.Digest)
	if err != nil {
		return nil, descriptor{}, err
	}
	switch target.MediaType {
	case mediaTypeOCIIndex, mediaTypeDockerList:
		var idx index
		if err := json.Unmarshal(data, &idx); err != nil {
			return nil, descriptor{}, err
		}
		for _, d := range idx.Manifests {
			if d.Platform == nil || d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				return a.platformManifest(d)
			}
		}
		return nil, descriptor{}, fmt.Errorf("no manifest for linux/%s", runtime.GOARCH)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, descriptor{}, err
	}
	if target.MediaType == "" {
		target.MediaType = m.MediaType
	}
	if target.MediaType == "" {
		target.MediaType = mediaTypeOCIManifest
	}
	return &m, target, nil
}

// writeIndex stores an index blob labelled with its manifests.
func (c *Client) writeIndex(ctx context.Context, a *archive, d descriptor) error {
	data, err := a.document(d.Digest)
	if err != nil {
		return err
	}
	var idx index
	if err := json.Unmarshal(data, &idx); err != nil {
		return err
	}
	labels := map[string]string{}
	for i, m := range idx.Manifests {
		if _, err := a.document(m.Digest); err == nil {
			labels[fmt.Sprintf("%s.m.%d", labelGCRefContent, i)] = m.Digest
		}
	}
	return c.writeBlob(ctx, a, d, labels)
}

// writeBlob puts one blob in the content store (unless it is there) and
// sets its labels.
func (c *Client) writeBlob(ctx context.Context, a *archive, d descriptor, labels map[string]string) error {
	if info, err := c.content.Info(ctx, &contentapi.InfoRequest{Digest: d.Digest}); err == nil {
		return c.label(ctx, info.Info, labels)
	} else if status.Code(err) != codes.NotFound {
		return fmt.Errorf("content info %s: %w", d.Digest, err)
	}
	src, closeSrc, err := a.open(d.Digest)
	if err != nil {
		return err
	}
	defer closeSrc()
	stream, err := c.content.Write(ctx)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Digest, err)
	}
	ref := "skiff-import-" + d.Digest
	buf := make([]byte, 1<<20)
	var offset int64
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if err := stream.Send(&contentapi.WriteContentRequest{Action: contentapi.WriteAction_WRITE, Ref: ref, Total: d.Size, Expected: d.Digest, Offset: offset, Data: buf[:n]}); err != nil {
				return fmt.Errorf("write %s: %w", d.Digest, err)
			}
			if _, err := stream.Recv(); err != nil {
				return fmt.Errorf("write %s: %w", d.Digest, err)
			}
			offset += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", d.Digest, rerr)
		}
	}
	err = stream.Send(&contentapi.WriteContentRequest{Action: contentapi.WriteAction_COMMIT, Ref: ref, Total: d.Size, Expected: d.Digest, Offset: offset, Labels: labels})
	if err == nil {
		_, err = stream.Recv()
	}
	_ = stream.CloseSend()
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("commit %s: %w", d.Digest, err)
	}
	return nil
}

// label adds labels to an existing blob.
func (c *Client) label(ctx context.Context, info *contentapi.Info, labels map[string]string) error {
	var paths []string
	for k, v := range labels {
		if info.Labels[k] != v {
			paths = append(paths, "labels."+k)
		}
	}
	if len(paths) == 0 {
		return nil
	}
	_, err := c.content.Update(ctx, &contentapi.UpdateRequest{
		Info:       &contentapi.Info{Digest: info.Digest, Labels: labels},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	})
	if err != nil {
		return fmt.Errorf("label %s: %w", info.Digest, err)
	}
	return nil
}

// open returns a reader of one blob of the archive.
func (a *archive) open(digest string) (io.Reader, func(), error) {
	if data, ok := a.generated[digest]; ok {
		return bytes.NewReader(data), func() {}, nil
	}
	name, ok := a.blobs[digest]
	if !ok {
		return nil, nil, fmt.Errorf("blob %s is not in %s", digest, a.path)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, nil, err
	}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("find %s in %s: %w", name, a.path, err)
		}
		if h.Typeflag == tar.TypeReg && path.Clean(strings.TrimPrefix(h.Name, "./")) == name {
			return tr, func() { f.Close() }, nil
		}
	}
}

// unpack applies the layers into committed snapshots named by chain ID,
// skipping the ones that exist.
func (c *Client) unpack(ctx context.Context, layers []descriptor, diffIDs, chain []string) error {
	for i, l := range layers {
		if _, err := c.snapshots.Stat(ctx, &snapshotsapi.StatSnapshotRequest{Snapshotter: Snapshotter, Key: chain[i]}); err == nil {
			continue
		}
		parent := ""
		if i > 0 {
			parent = chain[i-1]
		}
		key := fmt.Sprintf("extract-%d-%s", time.Now().UnixNano(), chain[i])
		prep, err := c.snapshots.Prepare(ctx, &snapshotsapi.PrepareSnapshotRequest{Snapshotter: Snapshotter, Key: key, Parent: parent,
			Labels: map[string]string{labelSnapshotRef: chain[i]}})
		if err != nil {
			return fmt.Errorf("prepare snapshot for layer %s: %w", l.Digest, err)
		}
		applied, err := c.diff.Apply(ctx, &diffapi.ApplyRequest{
			Diff:   &types.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size},
			Mounts: prep.Mounts,
		})
		if err == nil && applied.Applied.Digest != diffIDs[i] {
			err = fmt.Errorf("layer %s unpacked to %s, config says %s", l.Digest, applied.Applied.Digest, diffIDs[i])
		}
		if err != nil {
			_, _ = c.snapshots.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: key})
			return fmt.Errorf("apply layer %s: %w", l.Digest, err)
		}
		if _, err := c.snapshots.Commit(ctx, &snapshotsapi.CommitSnapshotRequest{Snapshotter: Snapshotter, Name: chain[i], Key: key}); err != nil {
			_, _ = c.snapshots.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: key})
			if status.Code(err) != codes.AlreadyExists {
				return fmt.Errorf("commit snapshot %s: %w", chain[i], err)
			}
		}
	}
	return nil
}

// putImage creates the image record, or points an existing one at target.
// Either way it is pinned: with no registry an imported image cannot come
// back once garbage-collected.
func (c *Client) putImage(ctx context.Context, name string, target descriptor) error {
	img := &imagesapi.Image{Name: name, Target: &types.Descriptor{MediaType: target.MediaType, Digest: target.Digest, Size: target.Size},
		Labels: map[string]string{LabelPinned: "pinned"}}
	if img.Target.MediaType == "" {
		img.Target.MediaType = mediaTypeOCIManifest
	}
	_, err := c.images.Create(ctx, &imagesapi.CreateImageRequest{Image: img})
	if status.Code(err) == codes.AlreadyExists {
		_, err = c.images.Update(ctx, &imagesapi.UpdateImageRequest{Image: img, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"target", "labels." + LabelPinned}}})
	}
	if err != nil {
		return fmt.Errorf("create image %s: %w", name, err)
	}
	return nil
}

// Pin marks the named images pinned (images imported before pinning
// existed).
func (c *Client) Pin(ctx context.Context, names ...string) error {
	ctx = namespaced(ctx)
	for _, n := range names {
		_, err := c.images.Update(ctx, &imagesapi.UpdateImageRequest{
			Image:      &imagesapi.Image{Name: n, Labels: map[string]string{LabelPinned: "pinned"}},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"labels." + LabelPinned}},
		})
		if err != nil && status.Code(err) != codes.NotFound {
			return fmt.Errorf("pin image %s: %w", n, err)
		}
	}
	return nil
}

// PinnedNames lists the names of the pinned images.
func (c *Client) PinnedNames(ctx context.Context) ([]string, error) {
	resp, err := c.images.List(namespaced(ctx), &imagesapi.ListImagesRequest{Filters: []string{fmt.Sprintf("labels.%q==pinned", LabelPinned)}})
	if err != nil {
		return nil, fmt.Errorf("list pinned images: %w", err)
	}
	names := make([]string, 0, len(resp.Images))
	for _, img := range resp.Images {
		names = append(names, img.Name)
	}
	return names, nil
}

// Names lists the image names in the CRI namespace.
func (c *Client) Names(ctx context.Context) ([]string, error) {
	resp, err := c.images.List(namespaced(ctx), &imagesapi.ListImagesRequest{})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var names []string
	for _, i := range resp.Images {
		names = append(names, i.Name)
	}
	return names, nil
}

// ArchiveNames returns the image names an archive would import, without
// importing it.
func ArchiveNames(file string) ([]string, error) {
	a, err := scan(file)
	if err != nil {
		return nil, err
	}
	imgs, err := a.images()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, i := range imgs {
		names = append(names, i.name)
	}
	return names, nil
}

// digestName is repo@digest for repo:tag.
func digestName(name, digest string) string {
	repo := name
	if i := strings.Index(repo, "@"); i >= 0 {
		repo = repo[:i]
	} else if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return repo + "@" + digest
}

// chainIDs computes the snapshot chain IDs of a layer stack.
func chainIDs(diffIDs []string) []string {
	out := make([]string, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1] + " " + d))
		out[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	return out
}

// NormalizeName turns a short reference into the full name the CRI
// resolves it to: busybox -> docker.io/library/busybox:latest.
func NormalizeName(ref string) string {
	name, tagOrDigest := ref, ""
	if i := strings.Index(name, "@"); i >= 0 {
		name, tagOrDigest = name[:i], name[i:]
	} else if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tagOrDigest = name[:i], name[i:]
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	if tagOrDigest == "" {
		tagOrDigest = ":latest"
	}
	return name + tagOrDigest
}
