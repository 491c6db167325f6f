package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestImageSocket(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ dataDir, address, want string }{
		{"rel", "", filepath.Join(wd, "rel/agent/containerd/containerd.sock")},
		{"/var/lib/skiff", "", "/var/lib/skiff/agent/containerd/containerd.sock"},
		{"ignored", "unix:///run/c.sock", "unix:///run/c.sock"},
		{"ignored", "c.sock", filepath.Join(wd, "c.sock")},
	} {
		if got := imageSocket(tc.dataDir, tc.address); got != tc.want {
			t.Errorf("imageSocket(%q, %q) = %q, want %q", tc.dataDir, tc.address, got, tc.want)
		}
	}
}
