package hostexec

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

// execOnHost changes root to root and executes the host's name with args.
// Chroot is process-wide, and the process is replaced right after, so no
// other goroutine of this short-lived process ever runs under the new root
// for long.
func execOnHost(root, name string, args []string) error {
	self, err := os.Stat("/proc/self/exe")
	if err != nil {
		return fmt.Errorf("stat own binary: %w", err)
	}
	if err := syscall.Chroot(root); err != nil {
		return fmt.Errorf("change root to the host's (%s=%s): %w; mount the host's root there (docker run -v /:%s:ro -v /run:%s/run) and give the container CAP_SYS_CHROOT (a default)", RootEnv, root, err, root, root)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("chdir / below %s: %w", root, err)
	}
	// exec.LookPath reads PATH: look in the host's directories, and hand
	// the same PATH to the tool.
	if err := os.Setenv("PATH", hostPath); err != nil {
		return err
	}
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return &notFoundError{name: name, root: root}
		}
		return err
	}
	// A root that is the container's own (a wrong mount) holds the links
	// again, whose tool is this binary: refuse instead of looping.
	if found, err := os.Stat(path); err == nil && os.SameFile(self, found) {
		return fmt.Errorf("%s=%s is the container's own root, not the host's: mount the host's root there (docker run -v /:%s:ro)", RootEnv, root, root)
	}
	argv := append([]string{name}, args...)
	if err := syscall.Exec(path, argv, os.Environ()); err != nil {
		return fmt.Errorf("exec %s below %s: %w", path, root, err)
	}
	return nil
}
