//go:build linux

package sandbox

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteResolvConfInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("nameserver 127.0.0.11\noptions ndots:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inode := func() uint64 {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Ino
	}
	before := inode()
	if err := writeResolvConf(path, ""); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "nameserver 127.0.0.11\noptions ndots:0\n" {
		t.Fatalf("empty content changed the file: %q", b)
	}
	content := ResolvConf([]string{"10.244.1.1"}, []string{"default.svc.cluster.local"}, []string{"ndots:5"})
	if err := writeResolvConf(path, content); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != content {
		t.Fatalf("file %q, want %q", b, content)
	}
	// A bind-mounted file cannot be replaced by a rename: it must be the same file.
	if inode() != before {
		t.Fatal("the file was replaced, not rewritten")
	}
	if err := writeResolvConf(filepath.Join(t.TempDir(), "missing", "resolv.conf"), content); err == nil {
		t.Fatal("no error for a path that cannot be written")
	}
}
