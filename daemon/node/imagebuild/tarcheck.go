package imagebuild

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Bounds of one build context.
const maxEntries = 200000

// ErrContext marks a build context the agent refuses.
var ErrContext = errors.New("imagebuild: bad build context")

// checkContext copies the tar stream in to out, entry by entry, refusing
// what the engine should not see: names that leave the context (absolute,
// or through ".."), hard links to such names, devices and other special
// files, and more than maxEntries entries. It reports whether the
// Dockerfile was among the entries. The engine gets only what passed.
func checkContext(in io.Reader, out io.Writer, dockerfile string) error {
	tr := tar.NewReader(in)
	tw := tar.NewWriter(out)
	seen := false
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: not a tar stream (send the context as an uncompressed tar): %w", ErrContext, err)
		}
		if n >= maxEntries {
			return fmt.Errorf("%w: more than %d files", ErrContext, maxEntries)
		}
		name, err := insideName(h.Name)
		if err != nil {
			return err
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
		case tar.TypeLink:
			if _, err := insideName(h.Linkname); err != nil {
				return fmt.Errorf("%w: hard link %s -> %s leaves the context", ErrContext, h.Name, h.Linkname)
			}
		default:
			return fmt.Errorf("%w: %s is a special file (type %q); a context holds files, directories and links", ErrContext, h.Name, string(h.Typeflag))
		}
		if name == dockerfile && h.Typeflag != tar.TypeDir {
			seen = true
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("passing the context on: %w", err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("%w: reading %s: %w", ErrContext, h.Name, err)
		}
	}
	if !seen {
		return fmt.Errorf("%w: the Dockerfile %q is not in the context", ErrContext, dockerfile)
	}
	return tw.Close()
}

// insideName cleans an entry's name and refuses one that leaves the
// context.
func insideName(name string) (string, error) {
	c := path.Clean(strings.TrimPrefix(name, "./"))
	if path.IsAbs(name) || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: the entry %q leaves the context", ErrContext, name)
	}
	return c, nil
}
