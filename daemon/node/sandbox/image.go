package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ImageRepository is the repository of sandbox images; the tag names the
// binary they were built from.
const ImageRepository = "shoal-pause"

// Entrypoint is the sandbox image's entrypoint, as a Dockerfile change.
const Entrypoint = `ENTRYPOINT ["/shoal","pause"]`

// binaryPathInImage is where the binary lives in the sandbox image.
const binaryPathInImage = "shoal"

// ErrBinaryChanged means the binary was replaced while its image was built.
var ErrBinaryChanged = errors.New("sandbox: binary changed while building its image")

// ImageRef returns the sandbox image ref for the binary at exePath:
// shoal-pause:<first 12 hex digits of the binary's sha256>. Every build of
// shoal thus gets its own sandbox image.
func ImageRef(exePath string) (string, error) {
	f, err := os.Open(exePath)
	if err != nil {
		return "", fmt.Errorf("sandbox image: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("sandbox image: hashing %s: %w", exePath, err)
	}
	return refFromHash(h), nil
}

func refFromHash(h hash.Hash) string {
	return ImageRepository + ":" + hex.EncodeToString(h.Sum(nil))[:12]
}

// EnsureImage makes sure the engine has the sandbox image of the binary at
// exePath (normally os.Executable()) and returns its ref. When absent, the
// image is imported from a root filesystem holding only the binary as
// /shoal and empty /etc and /tmp, with the entrypoint `/shoal pause`.
func EnsureImage(ctx context.Context, eng engine.Engine, exePath string) (string, error) {
	ref, err := ImageRef(exePath)
	if err != nil {
		return "", err
	}
	exists, err := eng.ImageExists(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("sandbox image %s: %w", ref, err)
	}
	if exists {
		return ref, nil
	}
	if err := checkStatic(exePath); err != nil {
		return "", err
	}
	// The root filesystem streams from the binary to the engine: holding
	// it in memory would take the agent's resident memory up by twice the
	// binary's size for good.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootfs(pw, exePath, ref)) }()
	err = eng.ImportImage(ctx, pr, ref, []string{Entrypoint})
	pr.CloseWithError(errImportEnded) // ends the writer if the import stopped reading
	if err != nil {
		return "", fmt.Errorf("sandbox image %s: %w", ref, err)
	}
	return ref, nil
}

var errImportEnded = errors.New("sandbox: the import ended")

// buildRootfs writes the image's root filesystem as a tar in memory (tests).
func buildRootfs(exePath, wantRef string) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeRootfs(&buf, exePath, wantRef); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeRootfs writes the image's root filesystem as a tar. The binary is
// hashed again while it is copied, so that the image cannot hold another
// binary than its tag names: on a mismatch the error ends the stream before
// its end, and the import fails.
func writeRootfs(w io.Writer, exePath, wantRef string) error {
	f, err := os.Open(exePath)
	if err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}

	tw := tar.NewWriter(w)
	// A fixed time keeps the layer identical for identical binaries.
	epoch := time.Unix(0, 0)
	for _, dir := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Name: dir.name, Typeflag: tar.TypeDir, Mode: dir.mode, ModTime: epoch}); err != nil {
			return fmt.Errorf("sandbox image: %w", err)
		}
	}
	hdr := &tar.Header{Name: binaryPathInImage, Typeflag: tar.TypeReg, Mode: 0o755, Size: info.Size(), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("sandbox image: %w", err)
	}
	h := sha256.New()
	if _, err := io.Copy(tw, io.TeeReader(f, h)); err != nil {
		// A binary that grew meanwhile no longer fits its header.
		return fmt.Errorf("sandbox image: copying %s: %w", exePath, errors.Join(ErrBinaryChanged, err))
	}
	// The hash is checked before the tar's end is written: a stream cut
	// short is refused by the engine.
	if got := refFromHash(h); got != wantRef {
		return fmt.Errorf("sandbox image: %s is now %s, not %s: %w", exePath, got, wantRef, ErrBinaryChanged)
	}
	if err := tw.Close(); err != nil {
		// A binary that shrank leaves the entry short.
		return fmt.Errorf("sandbox image: copying %s: %w", exePath, errors.Join(ErrBinaryChanged, err))
	}
	return nil
}

// ErrNotStatic means the binary needs a dynamic loader, which the sandbox
// image (only the binary, nothing else) does not have.
var ErrNotStatic = errors.New("sandbox: the shoal binary is not statically linked; build it with CGO_ENABLED=0")

// checkStatic refuses an ELF binary that names a program interpreter.
func checkStatic(exePath string) error {
	f, err := elf.Open(exePath)
	if err != nil {
		return nil // not ELF (or unreadable): let the import report it
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w (%s)", ErrNotStatic, exePath)
		}
	}
	return nil
}
