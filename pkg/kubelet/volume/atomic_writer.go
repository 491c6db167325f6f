package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// file is one file a volume projects: a relative path, its content and
// mode.
type file struct {
	Data []byte
	Mode os.FileMode
}

const dataDirName = "..data"

// writeAtomic makes dir hold exactly files, the way upstream's
// AtomicWriter does: the content lives in a timestamped directory,
// "..data" is a symlink to it, and each visible top-level entry is a
// symlink through "..data". An update writes a new directory and swaps
// the "..data" link with a rename, so readers see either the old or the
// new set, never a mix. Nothing is rewritten when the content is
// unchanged.
func writeAtomic(dir string, files map[string]file, gid *int64) error {
	for p := range files {
		if err := validPath(p); err != nil {
			return err
		}
	}
	current := ""
	if target, err := os.Readlink(filepath.Join(dir, dataDirName)); err == nil {
		current = filepath.Join(dir, target)
		if sameContent(current, files) {
			return nil
		}
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return err
		}
		if gid != nil {
			_ = os.Lchown(full, -1, int(*gid))
		}
	}
	tmpLink := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmpLink)
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return err
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return err
	}
	// Visible entries: one symlink per top-level name.
	want := map[string]bool{}
	for p := range files {
		top := strings.SplitN(p, "/", 2)[0]
		want[top] = true
	}
	for top := range want {
		link := filepath.Join(dir, top)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataDirName, top) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join(dataDirName, top), link); err != nil {
			return err
		}
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") {
			if name != dataDirName && filepath.Join(dir, name) != tsDir {
				_ = os.RemoveAll(filepath.Join(dir, name))
			}
			continue
		}
		if !want[name] {
			_ = os.RemoveAll(filepath.Join(dir, name))
		}
	}
	return nil
}

// sameContent reports whether dir holds exactly files.
func sameContent(dir string, files map[string]file) bool {
	var found []string
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		found = append(found, rel)
		return nil
	})
	if err != nil || len(found) != len(files) {
		return false
	}
	sort.Strings(found)
	for _, rel := range found {
		f, ok := files[rel]
		if !ok {
			return false
		}
		info, err := os.Stat(filepath.Join(dir, rel))
		if err != nil || info.Mode().Perm() != f.Mode.Perm() {
			return false
		}
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil || string(data) != string(f.Data) {
			return false
		}
	}
	return true
}

// validPath rejects absolute paths, '..' elements and names starting
// with '..' (reserved for the writer), as upstream.
func validPath(p string) error {
	if p == "" || filepath.IsAbs(p) {
		return fmt.Errorf("invalid path %q: must be relative", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." || strings.HasPrefix(el, "..") {
			return fmt.Errorf("invalid path %q: must not contain '..'", p)
		}
	}
	return nil
}
