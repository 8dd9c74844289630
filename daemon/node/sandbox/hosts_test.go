//go:build linux

package sandbox

import (
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/daemon/hostexec"
)

func TestHostsEntryIsWrittenOnceInPlace(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	path := filepath.Join(dir, "etc", "hosts")
	if err := os.WriteFile(path, []byte("127.0.0.1\tlocalhost"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	for range 2 {
		if err := appendHosts(root, "etc/hosts", "10.244.3.7", "web-0"); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	if want := "127.0.0.1\tlocalhost\n10.244.3.7\tweb-0\n"; string(b) != want {
		t.Fatalf("hosts file %q, want %q", b, want)
	}
	if strings.Count(string(b), "10.244.3.7") != 1 {
		t.Fatal("entry written twice")
	}
	// A bind-mounted file cannot be replaced by a rename: it must be the same file.
	if after, _ := os.Stat(path); !os.SameFile(before, after) {
		t.Fatal("the file was replaced, not rewritten")
	}
}

// A sandbox whose /etc/hosts is a link out of its root does not get the
// agent to write the file the link names.
func TestHostsEntryStaysInsideTheSandbox(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(outside, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "etc"), 0o755)
	if err := os.Symlink(outside, filepath.Join(dir, "etc", "hosts")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := appendHosts(root, "etc/hosts", "10.244.3.7", "web-0"); err == nil {
		t.Fatal("no error for a hosts file linking out of the sandbox")
	}
	if b, _ := os.ReadFile(outside); string(b) != "root:x:0:0\n" {
		t.Fatalf("the file outside was changed: %q", b)
	}
}

func TestHostsEntryNeedsASandboxProcess(t *testing.T) {
	if err := AddHostsEntry(0, netip.MustParseAddr("10.244.3.7"), "web-0"); err == nil || !strings.Contains(err.Error(), "no process") {
		t.Fatalf("pid 0: %v", err)
	}
}

// An agent run as a container does not see the sandbox's process in its
// own /proc; it reaches it under the host's root.
func TestHostsEntryThroughTheHostsProc(t *testing.T) {
	const pid = 4194303 // the highest pid Linux hands out: not one of ours
	if procExists(pid) {
		t.Fatalf("process %d exists here; the test needs a pid this /proc lacks", pid)
	}
	hostRoot := t.TempDir()
	etc := filepath.Join(hostRoot, "proc", strconv.Itoa(pid), "root", "etc")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("127.0.0.1\tlocalhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := AddHostsEntry(pid, netip.MustParseAddr("10.244.3.7"), "web-0"); err == nil {
		t.Fatal("an agent on the host found a process its /proc lacks")
	}
	t.Setenv(hostexec.RootEnv, hostRoot)
	if err := AddHostsEntry(pid, netip.MustParseAddr("10.244.3.7"), "web-0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(etc, "hosts")); string(b) != "127.0.0.1\tlocalhost\n10.244.3.7\tweb-0\n" {
		t.Fatalf("hosts file %q", b)
	}
}
