package volume

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, map[string]file{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}}, nil); err != nil {
		t.Fatal(err)
	}
	read := func(p string) string {
		data, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(data)
	}
	if read("a") != "1" || read("sub/b") != "2" {
		t.Fatalf("content: a=%s sub/b=%s", read("a"), read("sub/b"))
	}
	if target, err := os.Readlink(filepath.Join(dir, "a")); err != nil || target != "..data/a" {
		t.Fatalf("a is not a link through ..data: %q %v", target, err)
	}
	if info, _ := os.Stat(filepath.Join(dir, "sub/b")); info.Mode().Perm() != 0o600 {
		t.Errorf("mode of sub/b = %v", info.Mode().Perm())
	}
	first, _ := os.Readlink(filepath.Join(dir, "..data"))

	// Unchanged content: nothing is rewritten.
	if err := writeAtomic(dir, map[string]file{"a": {Data: []byte("1"), Mode: 0o644}, "sub/b": {Data: []byte("2"), Mode: 0o600}}, nil); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Readlink(filepath.Join(dir, "..data")); again != first {
		t.Errorf("unchanged content was rewritten: %s -> %s", first, again)
	}

	// An update swaps the data directory and drops removed keys.
	if err := writeAtomic(dir, map[string]file{"a": {Data: []byte("new"), Mode: 0o644}}, nil); err != nil {
		t.Fatal(err)
	}
	if read("a") != "new" {
		t.Errorf("a = %s after update", read("a"))
	}
	if _, err := os.Lstat(filepath.Join(dir, "sub")); !os.IsNotExist(err) {
		t.Errorf("removed key still visible: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	timestamped := 0
	for _, e := range entries {
		if e.IsDir() && len(e.Name()) > 2 && e.Name()[:2] == ".." {
			timestamped++
		}
	}
	if timestamped != 1 {
		t.Errorf("%d data directories left, want 1", timestamped)
	}
}

func TestWriteAtomicRejectsEscapes(t *testing.T) {
	for _, p := range []string{"../x", "/abs", "a/../../x", "..data"} {
		if err := writeAtomic(t.TempDir(), map[string]file{p: {Data: []byte("x"), Mode: 0o644}}, nil); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
}
