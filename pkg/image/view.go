package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"time"

	contentapi "github.com/containerd/containerd/api/services/content/v1"
	imagesapi "github.com/containerd/containerd/api/services/images/v1"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/api/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// labelGCRoot keeps a snapshot nothing else refers to from containerd's
// garbage collector.
const labelGCRoot = "containerd.io/gc.root"

// ErrNotPresent means the image is not in the node's containerd.
var ErrNotPresent = errors.New("image not present")

// Mount is one mount of a snapshot view, as containerd describes it.
type Mount struct {
	Type, Source string
	Options      []string
}

// View returns the mounts of a read-only view of ref's root filesystem:
// the snapshot view key over the image's top layer, made if missing (with
// labels, and as a garbage-collection root). An image volume mounts it.
func (c *Client) View(ctx context.Context, ref, key string, labels map[string]string) ([]Mount, error) {
	ctx = namespaced(ctx)
	if m, err := c.snapshots.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: Snapshotter, Key: key}); err == nil {
		return mounts(m.Mounts), nil
	}
	top, err := c.topLayer(ctx, ref)
	if err != nil {
		return nil, err
	}
	all := map[string]string{labelGCRoot: time.Now().UTC().Format(time.RFC3339)}
	for k, v := range labels {
		all[k] = v
	}
	resp, err := c.snapshots.View(ctx, &snapshotsapi.ViewSnapshotRequest{Snapshotter: Snapshotter, Key: key, Parent: top, Labels: all})
	if status.Code(err) == codes.AlreadyExists { // a concurrent set-up made it
		m, err := c.snapshots.Mounts(ctx, &snapshotsapi.MountsRequest{Snapshotter: Snapshotter, Key: key})
		if err != nil {
			return nil, fmt.Errorf("mounts of view %s: %w", key, err)
		}
		return mounts(m.Mounts), nil
	}
	if err != nil {
		return nil, fmt.Errorf("view of image %s: %w", ref, err)
	}
	return mounts(resp.Mounts), nil
}

// RemoveViews removes the views carrying label=value.
func (c *Client) RemoveViews(ctx context.Context, label, value string) error {
	ctx = namespaced(ctx)
	stream, err := c.snapshots.List(ctx, &snapshotsapi.ListSnapshotsRequest{Snapshotter: Snapshotter,
		Filters: []string{fmt.Sprintf("labels.%s==%s", strconv.Quote(label), value)}})
	if err != nil {
		return fmt.Errorf("list views: %w", err)
	}
	var keys []string
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("list views: %w", err)
		}
		for _, info := range resp.Info {
			keys = append(keys, info.Name)
		}
	}
	var errs []error
	for _, k := range keys {
		if _, err := c.snapshots.Remove(ctx, &snapshotsapi.RemoveSnapshotRequest{Snapshotter: Snapshotter, Key: k}); err != nil && status.Code(err) != codes.NotFound {
			errs = append(errs, fmt.Errorf("remove view %s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// topLayer is the chain ID of the committed snapshot of ref's last layer.
func (c *Client) topLayer(ctx context.Context, ref string) (string, error) {
	img, err := c.images.Get(ctx, &imagesapi.GetImageRequest{Name: NormalizeName(ref)})
	if status.Code(err) == codes.NotFound {
		return "", fmt.Errorf("%s: %w", ref, ErrNotPresent)
	}
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	t := img.Image.Target
	m, err := c.manifest(ctx, descriptor{MediaType: t.MediaType, Digest: t.Digest, Size: t.Size})
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	data, err := c.readBlob(ctx, m.Config.Digest)
	if err != nil {
		return "", fmt.Errorf("image %s config: %w", ref, err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("image %s config: %w", ref, err)
	}
	if len(cfg.RootFS.DiffIDs) == 0 {
		return "", fmt.Errorf("image %s has no layers", ref)
	}
	chain := chainIDs(cfg.RootFS.DiffIDs)
	return chain[len(chain)-1], nil
}

// manifest reads the manifest of target, choosing this platform's from an
// index.
func (c *Client) manifest(ctx context.Context, target descriptor) (*manifest, error) {
	data, err := c.readBlob(ctx, target.Digest)
	if err != nil {
		return nil, err
	}
	var probe struct {
		MediaType string       `json:"mediaType"`
		Manifests []descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", target.Digest, err)
	}
	if target.MediaType == mediaTypeOCIIndex || target.MediaType == mediaTypeDockerList || probe.Manifests != nil {
		for _, d := range probe.Manifests {
			if d.Platform == nil || d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
				return c.manifest(ctx, d)
			}
		}
		return nil, fmt.Errorf("no manifest for linux/%s", runtime.GOARCH)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", target.Digest, err)
	}
	return &m, nil
}

// readBlob reads a whole blob from the content store (manifests and
// configs: small).
func (c *Client) readBlob(ctx context.Context, digest string) ([]byte, error) {
	stream, err := c.content.Read(ctx, &contentapi.ReadContentRequest{Digest: digest})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", digest, err)
	}
	var buf bytes.Buffer
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return buf.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", digest, err)
		}
		buf.Write(resp.Data)
	}
}

func mounts(in []*types.Mount) []Mount {
	out := make([]Mount, 0, len(in))
	for _, m := range in {
		out = append(out, Mount{Type: m.Type, Source: m.Source, Options: m.Options})
	}
	return out
}
