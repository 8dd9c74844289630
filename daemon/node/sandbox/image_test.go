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
	"runtime"
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

// On amd64 and arm64 the image is the tiny pause alone: the same image for
// every build of shoal, imported once.
func TestTinyImageImportsOnceForEveryBuild(t *testing.T) {
	ctx := testContext(t)
	eng := enginetest.New()
	program, ok := TinyPause("amd64")
	if !ok {
		t.Fatal("no tiny pause for amd64")
	}
	ref, err := ensureTinyImage(ctx, eng, program)
	if err != nil {
		t.Fatal(err)
	}
	img, ok := eng.Imported(ref)
	if !ok {
		t.Fatal("image not imported")
	}
	if !slices.Equal(img.Changes, []string{`ENTRYPOINT ["/pause"]`}) {
		t.Fatalf("changes = %q", img.Changes)
	}
	sum := sha256.Sum256(img.RootfsTar)
	if want := "shoal-pause:" + hex.EncodeToString(sum[:])[:12]; ref != want {
		t.Fatalf("ref = %q, want the hash of the root filesystem %q", ref, want)
	}
	checkRootfs(t, img.RootfsTar, "pause", string(program))
	if again, err := ensureTinyImage(ctx, eng, program); err != nil || again != ref {
		t.Fatalf("second import = %q, %v", again, err)
	}
	if n := eng.CallCount("ImportImage"); n != 1 {
		t.Fatalf("ImportImage called %d times, want 1", n)
	}

	// The agent's own binary has no part in it: two builds, one image.
	if _, ok := TinyPause(runtime.GOARCH); !ok {
		t.Fatalf("no tiny pause for %s, the machine the tests run on", runtime.GOARCH)
	}
	fresh := enginetest.New()
	var refs []string
	for _, build := range []string{"#!binary v1", "#!binary v2"} {
		got, err := EnsureImage(ctx, fresh, writeBinary(t, build))
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, got)
	}
	if refs[0] != refs[1] || fresh.CallCount("ImportImage") != 1 {
		t.Fatalf("two builds gave images %v in %d imports, want one image imported once", refs, fresh.CallCount("ImportImage"))
	}
}

func TestBinaryImageImportsOnce(t *testing.T) {
	ctx := testContext(t)
	eng := enginetest.New()
	exe := writeBinary(t, "#!binary v1")
	sum := sha256.Sum256([]byte("#!binary v1"))
	wantRef := "shoal-pause:" + hex.EncodeToString(sum[:])[:12]

	ref, err := ensureBinaryImage(ctx, eng, exe)
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
	checkRootfs(t, img.RootfsTar, "shoal", "#!binary v1")

	again, err := ensureBinaryImage(ctx, eng, exe)
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
	newer, err := ensureBinaryImage(ctx, eng, exe)
	if err != nil || newer == ref {
		t.Fatalf("EnsureImage after an upgrade = %q, %v; want a new ref", newer, err)
	}
	if n := eng.CallCount("ImportImage"); n != 2 {
		t.Fatalf("ImportImage called %d times, want 2", n)
	}
}

// checkRootfs checks that the image's root filesystem is the program at
// path and the empty /etc and /tmp, nothing else.
func checkRootfs(t *testing.T, rootfs []byte, path, program string) {
	t.Helper()
	entries := readTar(t, rootfs)
	want := map[string]tarEntry{
		path:   {typeflag: tar.TypeReg, mode: 0o755, content: program},
		"etc/": {typeflag: tar.TypeDir, mode: 0o755},
		"tmp/": {typeflag: tar.TypeDir, mode: 0o1777},
	}
	if len(entries) != len(want) {
		t.Fatalf("rootfs entries = %v, want exactly %v", entries, want)
	}
	for name, w := range want {
		if entries[name] != w {
			t.Errorf("rootfs %s = %+v, want %+v", name, entries[name], w)
		}
	}
}

func TestEnsureImageErrors(t *testing.T) {
	ctx := testContext(t)
	if _, err := ensureBinaryImage(ctx, enginetest.New(), filepath.Join(t.TempDir(), "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing binary: %v", err)
	}

	eng := enginetest.New()
	refused := errors.New("refused")
	eng.ImportImageFn = func(context.Context, io.Reader, string, []string) error { return refused }
	if _, err := EnsureImage(ctx, eng, writeBinary(t, "x")); !errors.Is(err, refused) {
		t.Fatalf("failed import: %v", err)
	}
	if _, err := ensureBinaryImage(ctx, eng, writeBinary(t, "x")); !errors.Is(err, refused) {
		t.Fatalf("failed import of the binary image: %v", err)
	}

	down := enginetest.New()
	down.SetUnavailable(true)
	if _, err := EnsureImage(ctx, down, writeBinary(t, "x")); err == nil {
		t.Fatal("EnsureImage succeeded with the engine down")
	}
	if _, err := ensureBinaryImage(ctx, down, writeBinary(t, "x")); err == nil {
		t.Fatal("the binary image was made with the engine down")
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
