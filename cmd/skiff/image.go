package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	criclient "k8s.io/cri-client/pkg"

	"github.com/skiff-project/skiff/pkg/image"
)

func newImageCommand() *cobra.Command {
	var dataDir, address string
	socket := func() string { return imageSocket(dataDir, address) }
	cmd := &cobra.Command{Use: "image", Short: "Manage the node's images (airgap: no registry needed)"}
	cmd.PersistentFlags().StringVar(&dataDir, "data-dir", defaultDataDir, "The agent's data dir (its containerd socket is DATA-DIR/agent/containerd/containerd.sock).")
	cmd.PersistentFlags().StringVar(&address, "address", "", "containerd socket (overrides --data-dir).")
	cmd.AddCommand(&cobra.Command{
		Use:   "import FILE.tar...",
		Short: "Load OCI image-layout or docker-archive tars into the node's containerd",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := image.Dial(socket())
			if err != nil {
				return err
			}
			defer c.Close()
			for _, f := range args {
				if _, err := c.Import(cmd.Context(), f, os.Stdout); err != nil {
					return err
				}
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "ls",
		Short: "List the images the kubelet sees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			svc, err := criclient.NewRemoteImageServiceBuilder().WithEndpoint("unix://" + socket()).WithConnectionTimeout(10 * time.Second).Build(ctx)
			if err != nil {
				return err
			}
			images, err := svc.ListImages(ctx, nil)
			if err != nil {
				return fmt.Errorf("list images: %w", err)
			}
			w := tabwriter.NewWriter(os.Stdout, 0, 8, 3, ' ', 0)
			fmt.Fprintln(w, "IMAGE\tIMAGE ID\tSIZE")
			for _, img := range images {
				id := img.Id
				if len(id) > 19 {
					id = id[7:20]
				}
				names := img.RepoTags
				if len(names) == 0 {
					names = []string{"<none>"}
				}
				for _, n := range names {
					fmt.Fprintf(w, "%s\t%s\t%s\n", n, id, humanSize(img.Size))
				}
			}
			return w.Flush()
		},
	})
	return cmd
}

func humanSize(b uint64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1fMB", float64(b)/(1<<20))
	case b >= 1<<10:
		return fmt.Sprintf("%.1fkB", float64(b)/(1<<10))
	}
	return fmt.Sprintf("%dB", b)
}

// imageSocket is the node's containerd socket: --address, else the one in
// the data dir. gRPC reads a relative path as a URL with an authority, so a
// path is made absolute (a unix:// address stays as given).
func imageSocket(dataDir, address string) string {
	path := address
	if path == "" {
		path = filepath.Join(dataDir, "agent", "containerd", "containerd.sock")
	}
	if !strings.Contains(path, "://") {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	return path
}
