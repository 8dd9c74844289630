package hostexec

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary act as a host tool when started under a
// tool's name, as the image's links start the shoal binary.
func TestMain(m *testing.M) {
	if code, handled := Run(os.Args); handled {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// runAs starts the test binary as the tool name with root as the host's
// root, and returns its output and exit code.
func runAs(t *testing.T, root, name string, args ...string) (string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := &exec.Cmd{Path: exe, Args: append([]string{name}, args...), Env: append(os.Environ(), RootEnv+"="+root)}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), 0
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing root needs root (the agent's image runs privileged)")
	}
}

func TestIsToolMatchesOnlyTheToolsBaseNames(t *testing.T) {
	for _, name := range []string{"iptables", "/usr/local/sbin/iptables-restore", "nsenter", "ip", "conntrack", "iptables-save"} {
		if !IsTool(name) {
			t.Errorf("IsTool(%q) = false", name)
		}
	}
	for _, name := range []string{"shoal", "/usr/bin/shoal", "ip6tables", "iptables-legacy", ""} {
		if IsTool(name) {
			t.Errorf("IsTool(%q) = true", name)
		}
	}
}

func TestRunLeavesShoalAloneWithoutTheVariable(t *testing.T) {
	t.Setenv(RootEnv, "")
	if _, handled := Run([]string{"iptables", "-S"}); handled {
		t.Fatal("handled without " + RootEnv)
	}
	t.Setenv(RootEnv, "/host")
	if _, handled := Run([]string{"/usr/bin/shoal", "agent"}); handled {
		t.Fatal("handled shoal's own name")
	}
}

func TestLinkMakesEveryToolALinkToTheBinary(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "usr", "local", "sbin")
	for range 2 { // twice: links already there are replaced
		if err := Link(dir, "/usr/bin/shoal"); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range Tools {
		got, err := os.Readlink(filepath.Join(dir, name))
		if err != nil || got != "/usr/bin/shoal" {
			t.Errorf("%s -> %q, %v; want /usr/bin/shoal", name, got, err)
		}
	}
}

// The host's own ip runs, with the arguments and the output passed through.
func TestRunExecutesTheHostsTool(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("this test runs the host's ip (Debian: iproute2): %v", err)
	}
	out, code := runAs(t, "/", "ip", "-V")
	if code != 0 || !strings.Contains(out, "iproute2") {
		t.Fatalf("ip -V through the host root: exit %d, output %q", code, out)
	}
	// The exit code is the tool's own.
	if _, code := runAs(t, "/", "ip", "no-such-object"); code == 0 || code == 126 || code == 127 {
		t.Fatalf("ip no-such-object: exit %d, want the tool's own failure code", code)
	}
}

func TestRunNamesAToolTheHostLacks(t *testing.T) {
	needRoot(t)
	out, code := runAs(t, t.TempDir(), "conntrack", "-F")
	if code != 127 || !strings.Contains(out, "conntrack is not installed on the host") {
		t.Fatalf("exit %d, output %q; want 127 and the missing tool named", code, out)
	}
}

// A "host" root that is the container's own holds the links again, whose
// tool is this binary: refused, not looped.
func TestRunRefusesItsOwnRoot(t *testing.T) {
	needRoot(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Beside the test binary, so that a hard link (the same file) can be made.
	root, err := os.MkdirTemp(filepath.Dir(exe), "root-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	bin := filepath.Join(root, "usr", "sbin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(exe, filepath.Join(bin, "iptables")); err != nil {
		t.Fatal(err)
	}
	out, code := runAs(t, root, "iptables", "-S")
	if code != 126 || !strings.Contains(out, "-v /:"+root+":ro") {
		t.Fatalf("exit %d, output %q; want 126 and the advice to mount the host's root", code, out)
	}
}
