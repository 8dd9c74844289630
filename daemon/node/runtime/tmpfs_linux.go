package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ensureTmpfs mounts a memory file system on dir unless one is there, so
// that secrets never touch the disk. It is a no-op when dir is already a
// mount point (its device differs from its parent's).
func ensureTmpfs(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	already, err := mounted(dir)
	if err != nil {
		return err
	}
	if already {
		return nil
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, "mode=0755,size=16m"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

// mounted reports whether dir is a mount point. An error (dir unreadable)
// is returned, never taken for "not mounted": a second tmpfs on top would
// hide the first, secrets and all.
func mounted(dir string) (bool, error) {
	var a, b syscall.Stat_t
	if err := syscall.Stat(dir, &a); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := syscall.Stat(filepath.Dir(dir), &b); err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Dir(dir), err)
	}
	return a.Dev != b.Dev, nil
}
