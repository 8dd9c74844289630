package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func writeBinary(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shoal")
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

type tarEntry struct {
	typeflag byte
	mode     int64
	content  string
}

func readTar(t *testing.T, data []byte) map[string]tarEntry {
	t.Helper()
	entries := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatalf("reading rootfs tar: %v", err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[hdr.Name] = tarEntry{typeflag: hdr.Typeflag, mode: hdr.Mode, content: string(content)}
	}
}

func TestEnsureImageImportsOnce(t *testing.T) {
	ctx := testContext(t)
	eng := enginetest.New()
	exe := writeBinary(t, "#!binary v1")
	sum := sha256.Sum256([]byte("#!binary v1"))
	wantRef := "shoal-pause:" + hex.EncodeToString(sum[:])[:12]

	ref, err := EnsureImage(ctx, eng, exe)
	if err != nil {
		t.Fatal(err)
	}
	if ref != wantRef {
		t.Fatalf("ref = %q, want %q", ref, wantRef)
	}
	img, ok := eng.Imported(ref)
	if !ok {
		t.Fatal("image not imported")
	}
	if !slices.Equal(img.Changes, []string{`ENTRYPOINT ["/shoal","pause"]`}) {
		t.Fatalf("changes = %q", img.Changes)
	}
	entries := readTar(t, img.RootfsTar)
	want := map[string]tarEntry{
		"shoal": {typeflag: tar.TypeReg, mode: 0o755, content: "#!binary v1"},
		"etc/":  {typeflag: tar.TypeDir, mode: 0o755},
		"tmp/":  {typeflag: tar.TypeDir, mode: 0o1777},
	}
	if len(entries) != len(want) {
		t.Fatalf("rootfs entries = %v, want exactly %v", entries, want)
	}
	for name, w := range want {
		if entries[name] != w {
			t.Errorf("rootfs %s = %+v, want %+v", name, entries[name], w)
		}
	}

	again, err := EnsureImage(ctx, eng, exe)
	if err != nil || again != ref {
		t.Fatalf("second EnsureImage = %q, %v", again, err)
	}
	if n := eng.CallCount("ImportImage"); n != 1 {
		t.Fatalf("ImportImage called %d times, want 1", n)
	}

	// A new build of the binary gets its own image.
	if err := os.WriteFile(exe, []byte("#!binary v2"), 0o755); err != nil {
		t.Fatal(err)
	}
	newer, err := EnsureImage(ctx, eng, exe)
	if err != nil || newer == ref {
		t.Fatalf("EnsureImage after an upgrade = %q, %v; want a new ref", newer, err)
	}
	if n := eng.CallCount("ImportImage"); n != 2 {
		t.Fatalf("ImportImage called %d times, want 2", n)
	}
}

func TestEnsureImageErrors(t *testing.T) {
	ctx := testContext(t)
	if _, err := EnsureImage(ctx, enginetest.New(), filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing binary: %v", err)
	}

	eng := enginetest.New()
	refused := errors.New("refused")
	eng.ImportImageFn = func(context.Context, io.Reader, string, []string) error { return refused }
	if _, err := EnsureImage(ctx, eng, writeBinary(t, "x")); !errors.Is(err, refused) {
		t.Fatalf("failed import: %v", err)
	}

	down := enginetest.New()
	down.SetUnavailable(true)
	if _, err := EnsureImage(ctx, down, writeBinary(t, "x")); err == nil {
		t.Fatal("EnsureImage succeeded with the engine down")
	}
}

func TestBuildRootfsDetectsChangedBinary(t *testing.T) {
	exe := writeBinary(t, "new contents")
	if _, err := buildRootfs(exe, "shoal-pause:000000000000"); !errors.Is(err, ErrBinaryChanged) {
		t.Fatalf("err = %v, want ErrBinaryChanged", err)
	}
}

func TestDynamicBinaryIsRefused(t *testing.T) {
	// The test binary itself is linked dynamically when cgo is on; find any
	// dynamic ELF binary on the host to stand in.
	for _, p := range []string{"/bin/ls", "/usr/bin/env"} {
		if _, err := os.Stat(p); err == nil {
			if err := checkStatic(p); !errors.Is(err, ErrNotStatic) {
				t.Fatalf("%s: want ErrNotStatic, got %v", p, err)
			}
			return
		}
	}
	t.Fatal("no dynamic binary found on this host to test with")
}
