package hostexec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// RootEnv names the variable holding the host's root as seen from the
// container; without it the binary never acts as a host tool.
const RootEnv = "SHOAL_HOST_ROOT"

// Tools are the host programs the agent runs by name.
var Tools = []string{"iptables", "iptables-save", "iptables-restore", "nsenter", "ip", "conntrack"}

// hostPath is where the tools are looked for below the host's root; it is
// also the PATH they run with (nsenter looks up the program it starts).
const hostPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// IsTool reports whether the program was started under one of the tools'
// names (argv0 is the name or path it was started by).
func IsTool(argv0 string) bool {
	return slices.Contains(Tools, filepath.Base(argv0))
}

// Run executes the host's program named by args[0] in place of this process
// when RootEnv is set and args[0] names a tool; it returns only on failure,
// with the exit code to end with (127: not found, 126: not runnable), having
// written the reason to stderr. handled is false when the process is not
// started as a host tool, and the caller goes on as shoal.
func Run(args []string) (code int, handled bool) {
	root := os.Getenv(RootEnv)
	if root == "" || len(args) == 0 || !IsTool(args[0]) {
		return 0, false
	}
	name := filepath.Base(args[0])
	if err := execOnHost(root, name, args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "shoal (as %s on the host): %v\n", name, err)
		var nf *notFoundError
		if errors.As(err, &nf) {
			return 127, true
		}
		return 126, true
	}
	return 0, true // not reached: a successful exec does not return
}

// notFoundError is a tool the host lacks.
type notFoundError struct{ name, root string }

func (e *notFoundError) Error() string {
	return fmt.Sprintf("%s is not installed on the host (looked in %s below %s); install it there (Debian: apt-get install iptables iproute2 util-linux conntrack)",
		e.name, hostPath, e.root)
}

// Link makes, in dir, a symbolic link to target under every tool's name
// (the image's build runs it once); links already there are replaced.
func Link(dir, target string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("host tools: %w", err)
	}
	for _, name := range Tools {
		p := filepath.Join(dir, name)
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("host tools: replace %s: %w", p, err)
		}
		if err := os.Symlink(target, p); err != nil {
			return fmt.Errorf("host tools: %w", err)
		}
	}
	return nil
}

// OnHost is the host's path p as an agent run as a container reaches it:
// under the host's root at SHOAL_HOST_ROOT; "" for an agent run on the
// host itself, which reaches p as it is.
func OnHost(p string) string {
	root := os.Getenv(RootEnv)
	if root == "" {
		return ""
	}
	return filepath.Join(root, p)
}
