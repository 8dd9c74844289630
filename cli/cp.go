package cli

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func newCpCommand(e *env) *cobra.Command {
	var container string
	cmd := &cobra.Command{
		Use:   "cp POD:PATH LOCAL | cp LOCAL POD:PATH",
		Short: "Copy files and directories between a pod's container and this machine",
		Long: `cp copies with tar, as kubectl cp: the container's image must have a tar
program. Symbolic and hard links are left out, and no entry may reach outside
the destination. POD may be written NAMESPACE/POD.`,
		Example: `  shoal cp web-1:/etc/nginx/nginx.conf ./nginx.conf
  shoal cp ./site web-1:/usr/share/nginx/html
  shoal cp -c sidecar team/api-1:/var/log/app ./logs`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCp(cmd, e, container, args[0], args[1])
		},
	}
	cmd.Flags().StringVarP(&container, "container", "c", "", "the container to copy from or to (default: the pod's first)")
	return cmd
}

// podPath is POD:PATH or NAMESPACE/POD:PATH.
type podPath struct {
	ns, pod, path string
}

// parsePodPath reads a POD:PATH argument; ok is false for a local path
// (one with no colon, or starting with . or /, as kubectl reads them).
func parsePodPath(arg, ns string) (podPath, bool, error) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return podPath{}, false, nil
	}
	ref, p, ok := strings.Cut(arg, ":")
	if !ok {
		return podPath{}, false, nil
	}
	pp := podPath{ns: ns, pod: ref, path: p}
	if n, pod, ok := strings.Cut(ref, "/"); ok {
		pp.ns, pp.pod = n, pod
	}
	if pp.pod == "" {
		return pp, true, fmt.Errorf("%q: name the pod before the colon, as web-1:/path", arg)
	}
	if p == "" {
		return pp, true, fmt.Errorf("%q: give the path in the container after the colon, as web-1:/path", arg)
	}
	return pp, true, nil
}

func runCp(cmd *cobra.Command, e *env, container, src, dst string) error {
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	from, fromPod, err := parsePodPath(src, e.namespace)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	to, toPod, err := parsePodPath(dst, e.namespace)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	switch {
	case fromPod && toPod:
		return usageError(cmd, "one side must be local: copy from a pod to this machine or the other way")
	case !fromPod && !toPod:
		return usageError(cmd, "one side must be a pod, written POD:PATH (such as web-1:/tmp/file)")
	case fromPod:
		return copyFromPod(cmd, c, container, from, dst)
	}
	return copyToPod(cmd, c, container, src, to)
}

// tarError explains a tar that failed in the container.
func tarError(p podPath, code int, stderr string) error {
	msg := strings.TrimSpace(stderr)
	if code == 126 || code == 127 || strings.Contains(msg, "executable file not found") || strings.Contains(msg, "not found in $PATH") {
		return fmt.Errorf("pod %s has no tar in its container: cp needs a tar program in the image", p.pod)
	}
	if msg == "" {
		msg = fmt.Sprintf("exit status %d", code)
	}
	return fmt.Errorf("tar in pod %s: %s", p.pod, msg)
}

// copyFromPod runs `tar cf -` in the container and unpacks the stream
// under dst, refusing every entry that would land outside it.
func copyFromPod(cmd *cobra.Command, c *client.Client, container string, from podPath, dst string) error {
	ctx := cmd.Context()
	src := path.Clean(from.path)
	base := path.Base(src)
	if base == "/" || base == "." {
		return usageError(cmd, "copy a file or directory of the container, not %q", from.path)
	}
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	type result struct {
		code int
		err  error
	}
	done := make(chan result, 1)
	go func() {
		code, err := c.Exec(ctx, from.ns, from.pod, api.ExecOptions{Container: container, Stdout: true, Stderr: true,
			Command: []string{"tar", "cf", "-", "-C", path.Dir(src), base}}, nil, pw, &limitedWriter{w: &stderr, n: 4096}, nil)
		pw.CloseWithError(io.EOF)
		done <- result{code, err}
	}()
	untarErr := untar(pr, base, dst, cmd.ErrOrStderr())
	if untarErr == nil || errors.Is(untarErr, errNothingCopied) {
		// tar pads its stream past the end-of-archive marker.
		_, _ = io.Copy(io.Discard, pr)
	}
	_ = pr.CloseWithError(errors.New("stopped reading"))
	res := <-done
	switch {
	case res.err == nil && res.code != 0:
		return tarError(from, res.code, stderr.String())
	case untarErr != nil && !errors.Is(untarErr, errNothingCopied):
		return untarErr // the broken stream that follows is its consequence
	case res.err != nil:
		return res.err
	}
	return untarErr
}

var errNothingCopied = errors.New("nothing was copied")

// untar writes the entries of r, named base or base/..., to dst: base
// itself becomes dst (or dst/base when dst is a directory and base a file).
func untar(r io.Reader, base, dst string, warn io.Writer) error {
	tr := tar.NewReader(r)
	wrote := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the copy: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		rest, ok := strings.CutPrefix(name, base)
		if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
			return fmt.Errorf("the container sent %q, which is not under %s: refused", h.Name, base)
		}
		target := dst
		if rest == "" && h.Typeflag == tar.TypeReg {
			if st, err := os.Stat(dst); err == nil && st.IsDir() {
				target = filepath.Join(dst, base)
			}
		} else if rest != "" {
			target = filepath.Join(dst, filepath.FromSlash(rest))
			if !within(dst, target) {
				return fmt.Errorf("the container sent %q, which would be written outside %s: refused", h.Name, dst)
			}
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			if err := writeCopiedFile(target, tr, fs.FileMode(h.Mode).Perm()); err != nil {
				return err
			}
		default:
			fmt.Fprintf(warn, "warning: skipping %s: only regular files and directories are copied\n", h.Name)
			continue
		}
		wrote = true
	}
	if !wrote {
		return fmt.Errorf("%w from %s", errNothingCopied, base)
	}
	return nil
}

func within(dir, target string) bool {
	rel, err := filepath.Rel(dir, target)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

func writeCopiedFile(target string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", target, err)
	}
	return f.Close()
}

// copyToPod packs src (a file or directory) as base(to.path) and unpacks it
// in the container's directory of to.path with `tar xmf -`.
func copyToPod(cmd *cobra.Command, c *client.Client, container, src string, to podPath) error {
	if _, err := os.Stat(src); err != nil {
		return usageError(cmd, "%v", err)
	}
	dst := path.Clean(to.path)
	dir, base := path.Dir(dst), path.Base(dst)
	if base == "/" || base == "." {
		// pod:/ or pod:. copies into that directory under src's name.
		dir, base = dst, filepath.Base(src)
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(tarTree(pw, src, base, cmd.ErrOrStderr()))
	}()
	var stderr bytes.Buffer
	code, err := c.Exec(cmd.Context(), to.ns, to.pod, api.ExecOptions{Container: container, Stdin: true, Stderr: true,
		Command: []string{"tar", "xmf", "-", "-C", dir}}, pr, nil, &limitedWriter{w: &stderr, n: 4096}, nil)
	_ = pr.CloseWithError(errors.New("stopped reading"))
	switch {
	case err != nil:
		return err
	case code != 0:
		return tarError(to, code, stderr.String())
	}
	return nil
}

// tarTree writes src as a tar stream whose entries are named base and
// base/...; links and other special files are left out with a warning.
func tarTree(w io.Writer, src, base string, warn io.Writer) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(base, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() && !info.IsDir() {
			fmt.Fprintf(warn, "warning: skipping %s: only regular files and directories are copied\n", p)
			return nil
		}
		h, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		h.Name = name
		h.Uname, h.Gname, h.Uid, h.Gid = "", "", 0, 0
		if info.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.IsDir() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("packing %s: %w", src, err)
	}
	return tw.Close()
}

// limitedWriter keeps the first n bytes of what it is given, for an error
// message, and discards the rest without failing the writer.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}
