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
	"runtime"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// ImageRepository is the repository of sandbox images; the tag names
// what they hold.
const ImageRepository = "shoal-pause"

// Entrypoint is the entrypoint, as a Dockerfile change, of a sandbox image
// made of the agent's binary; TinyEntrypoint that of one made of the tiny
// pause.
const (
	Entrypoint     = `ENTRYPOINT ["/shoal","pause"]`
	TinyEntrypoint = `ENTRYPOINT ["/pause"]`
)

// binaryPathInImage and tinyPathInImage are where the program lives in the
// sandbox image.
const (
	binaryPathInImage = "shoal"
	tinyPathInImage   = "pause"
)

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

// EnsureImage makes sure the engine has the sandbox image and returns its
// ref. Where the tiny pause is built for the machine (amd64, arm64), the
// image holds it alone as /pause: a few hundred bytes, the same for every
// build of shoal. Elsewhere it holds the binary at exePath (normally
// os.Executable()) as /shoal, with the entrypoint `/shoal pause`. Either has
// empty /etc and /tmp besides.
func EnsureImage(ctx context.Context, eng engine.Engine, exePath string) (string, error) {
	src, err := machineSource(exePath)
	if err != nil {
		return "", err
	}
	return ensure(ctx, eng, src)
}

// Ref is the ref EnsureImage gives the sandbox image on this machine.
func Ref(exePath string) (string, error) {
	src, err := machineSource(exePath)
	return src.ref, err
}

// source is one sandbox image: its ref, and how to import it.
type source struct {
	ref        string
	importInto func(ctx context.Context, eng engine.Engine) error
}

// machineSource is the sandbox image of this machine: the tiny pause's
// where there is one, else the binary's.
func machineSource(exePath string) (source, error) {
	if tiny, ok := TinyPause(runtime.GOARCH); ok {
		return tinySource(tiny)
	}
	return binarySource(exePath)
}

// ensure imports src unless the engine has it, and returns its ref.
func ensure(ctx context.Context, eng engine.Engine, src source) (string, error) {
	exists, err := eng.ImageExists(ctx, src.ref)
	if err != nil {
		return "", fmt.Errorf("sandbox image %s: %w", src.ref, err)
	}
	if exists {
		return src.ref, nil
	}
	if err := src.importInto(ctx, eng); err != nil {
		return "", fmt.Errorf("sandbox image %s: %w", src.ref, err)
	}
	return src.ref, nil
}

// tinySource is the image of the tiny pause, tagged with the hash of its
// root filesystem.
func tinySource(program []byte) (source, error) {
	rootfs, err := tinyRootfs(program)
	if err != nil {
		return source{}, err
	}
	h := sha256.New()
	h.Write(rootfs)
	ref := refFromHash(h)
	return source{ref: ref, importInto: func(ctx context.Context, eng engine.Engine) error {
		return eng.ImportImage(ctx, bytes.NewReader(rootfs), ref, []string{TinyEntrypoint})
	}}, nil
}

// tinyRootfs is the tiny image's root filesystem as a tar.
func tinyRootfs(program []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeDirs(tw); err != nil {
		return nil, err
	}
	hdr := &tar.Header{Name: tinyPathInImage, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(program)), ModTime: time.Unix(0, 0)}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, fmt.Errorf("sandbox image: %w", err)
	}
	if _, err := tw.Write(program); err != nil {
		return nil, fmt.Errorf("sandbox image: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("sandbox image: %w", err)
	}
	return buf.Bytes(), nil
}

// writeDirs writes the empty /etc and /tmp of every sandbox image, with a
// fixed time so that identical contents make identical layers.
func writeDirs(tw *tar.Writer) error {
	for _, dir := range []struct {
		name string
		mode int64
	}{{"etc/", 0o755}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Name: dir.name, Typeflag: tar.TypeDir, Mode: dir.mode, ModTime: time.Unix(0, 0)}); err != nil {
			return fmt.Errorf("sandbox image: %w", err)
		}
	}
	return nil
}

// binarySource is the image of the binary at exePath, tagged with the
// binary's hash.
func binarySource(exePath string) (source, error) {
	ref, err := ImageRef(exePath)
	if err != nil {
		return source{}, err
	}
	return source{ref: ref, importInto: func(ctx context.Context, eng engine.Engine) error {
		if err := checkStatic(exePath); err != nil {
			return err
		}
		// The root filesystem streams from the binary to the engine:
		// holding it in memory would take the agent's resident memory up
		// by twice the binary's size for good.
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeRootfs(pw, exePath, ref)) }()
		err := eng.ImportImage(ctx, pr, ref, []string{Entrypoint})
		pr.CloseWithError(errImportEnded) // ends the writer if the import stopped reading
		return err
	}}, nil
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
	if err := writeDirs(tw); err != nil {
		return err
	}
	hdr := &tar.Header{Name: binaryPathInImage, Typeflag: tar.TypeReg, Mode: 0o755, Size: info.Size(), ModTime: time.Unix(0, 0)}
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
