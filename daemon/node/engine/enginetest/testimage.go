package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// busyboxApplets are linked in the test image's /bin.
var busyboxApplets = []string{
	"sh", "cat", "echo", "sleep", "true", "false", "test", "[", "readlink",
	"hostname", "id", "pwd", "grep", "touch", "stty", "env", "ls", "mkdir", "kill",
}

// ImportBusybox imports a one-layer image holding the host's static busybox
// as /bin/busybox, with /bin/sh and a few more applets, and removes it when
// the test ends. The image has no entrypoint and no command: give Cmd.
func ImportBusybox(t testing.TB, d *engine.Docker) string {
	t.Helper()
	path, err := staticBusybox()
	if err != nil {
		t.Fatalf("test image: %v (install busybox-static)", err)
	}
	rootfs, err := busyboxRootfs(path)
	if err != nil {
		t.Fatalf("test image: %v", err)
	}
	ref := UniqueName("shoal-test-busybox:")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	changes := []string{"LABEL " + TestLabel + "=1", "ENV PATH=/bin"}
	if err := d.ImportImage(ctx, bytes.NewReader(rootfs), ref, changes); err != nil {
		t.Fatalf("test image: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.RemoveImage(ctx, ref); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return ref
}

// staticBusybox finds a busybox that runs without a dynamic loader, as it
// must in an image with nothing else in it.
func staticBusybox() (string, error) {
	candidates := []string{"/bin/busybox", "/usr/bin/busybox"}
	if p, err := exec.LookPath("busybox"); err == nil {
		candidates = append([]string{p}, candidates...)
	}
	for _, p := range candidates {
		static, err := isStaticELF(p)
		if err == nil && static {
			return p, nil
		}
	}
	return "", errors.New("no statically linked busybox found")
}

func isStaticELF(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}

func busyboxRootfs(busybox string) ([]byte, error) {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	entries := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777, ModTime: mtime},
		{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: mtime},
	}
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				return nil, fmt.Errorf("tar %s: %w", h.Name, err)
			}
		}
	}
	for _, applet := range busyboxApplets {
		h := &tar.Header{Name: "bin/" + applet, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777, ModTime: mtime}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("tar: %w", err)
	}
	return buf.Bytes(), nil
}
