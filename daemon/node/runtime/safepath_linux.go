package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pathFD is an O_PATH descriptor of a file or directory found below a root:
// it names that very inode, whatever is renamed or swapped in afterwards.
type pathFD struct {
	fd    int
	isDir bool
}

func (p *pathFD) Close() error { return unix.Close(p.fd) }

// procPath is the magic link through which the kernel reaches the inode the
// descriptor holds (mount(2) and open(2) follow it to that inode, not to a
// path).
func (p *pathFD) procPath() string { return "/proc/self/fd/" + strconv.Itoa(p.fd) }

// maxSymlinks bounds the links followed in one resolution, as the kernel's
// ELOOP limit does.
const maxSymlinks = 40

// resolveBeneath opens rel below root one component at a time, never
// following a link out of root: each component is opened with O_NOFOLLOW
// relative to the descriptor of its parent; a symlink is read and its
// target walked the same way if it is relative and stays below root, and
// refused if it is absolute or climbs above root (RESOLVE_BENEATH's rule,
// done in user space so that it works on any kernel). With create, missing
// directories are made (mkdirat) inside the parent already held. The
// caller closes the result.
func resolveBeneath(root, rel string, create bool) (*pathFD, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", root, err)
	}
	stack := []int{rootFD}
	closeAll := func() {
		for _, fd := range stack {
			unix.Close(fd)
		}
	}
	parts := strings.Split(rel, "/")
	links := 0
	lastIsDir := true
	for len(parts) > 0 {
		name := parts[0]
		parts = parts[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(stack) == 1 {
				closeAll()
				return nil, &escapeError{rel, "it climbs above the volume with '..'"}
			}
			unix.Close(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			lastIsDir = true
			continue
		}
		parent := stack[len(stack)-1]
		fd, err := unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err := unix.Mkdirat(parent, name, 0o777); err != nil && !errors.Is(err, unix.EEXIST) {
				closeAll()
				return nil, fmt.Errorf("create %q in %q: %w", name, rel, err)
			}
			fd, err = unix.Openat(parent, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("%q: %s: %w", rel, name, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			closeAll()
			return nil, fmt.Errorf("%q: stat %s: %w", rel, name, err)
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			target, err := readlinkFD(fd)
			unix.Close(fd)
			if err != nil {
				closeAll()
				return nil, fmt.Errorf("%q: read link %s: %w", rel, name, err)
			}
			if links++; links > maxSymlinks {
				closeAll()
				return nil, fmt.Errorf("%q: too many levels of symbolic links", rel)
			}
			if strings.HasPrefix(target, "/") {
				closeAll()
				return nil, &escapeError{rel, fmt.Sprintf("%s is a symbolic link to the absolute path %q", name, target)}
			}
			parts = append(strings.Split(target, "/"), parts...)
		case unix.S_IFDIR:
			stack = append(stack, fd)
			lastIsDir = true
		default:
			if len(parts) > 0 && strings.Trim(strings.Join(parts, "/"), "/") != "" {
				unix.Close(fd)
				closeAll()
				return nil, fmt.Errorf("%q: %s is not a directory", rel, name)
			}
			stack = append(stack, fd)
			lastIsDir = false
		}
	}
	last := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	closeAll()
	return &pathFD{fd: last, isDir: lastIsDir}, nil
}

func readlinkFD(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// stageSubPath resolves sub below root (see resolveBeneath) and bind-mounts
// what it finds onto target, a path of the agent's own that the engine then
// mounts into the container.
func stageSubPath(root, sub string, create bool, target string) error {
	fd, err := resolveBeneath(root, sub, create)
	if err != nil {
		return err
	}
	defer fd.Close()
	return bindFD(fd, target)
}

// openBeneath opens a regular file below dir for reading, never following a
// link out of dir.
func openBeneath(dir, rel string) (*os.File, error) {
	fd, err := resolveBeneath(dir, rel, false)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	return os.Open(fd.procPath())
}

// bindFD bind-mounts what fd holds onto target, which is made as an empty
// directory or file. The mount source is the descriptor's own inode, so a
// link swapped into the volume after resolution changes nothing. A stale
// mount left on target (an agent restart) is replaced.
func bindFD(fd *pathFD, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	stale, err := isMountPoint(target)
	if err != nil {
		return err
	}
	if stale {
		if err := unix.Unmount(target, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount stale %s: %w", target, err)
		}
	}
	if fd.isDir {
		if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|unix.O_NOFOLLOW, 0o640)
		if err != nil {
			return err
		}
		f.Close()
	}
	if err := unix.Mount(fd.procPath(), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s: %w", target, err)
	}
	return nil
}

// mountPointsUnder lists the mount points at or below dir, deepest first,
// from /proc/self/mountinfo (bind mounts of the same file system have no
// device of their own, so only the mount table tells them apart).
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, nil
}

// isMountPoint reports whether p is a mount point; a mount table that
// cannot be read is an error, not a "no".
func isMountPoint(p string) (bool, error) {
	mps, err := mountPointsUnder(p)
	if err != nil {
		return false, fmt.Errorf("reading the mount table: %w", err)
	}
	for _, mp := range mps {
		if mp == filepath.Clean(p) {
			return true, nil
		}
	}
	return false, nil
}

// unescapeMountPath decodes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmount detaches a mount; a variable so that tests can make it fail.
var unmount = unix.Unmount

// unmountAll detaches every mount at or below dir and reports an error if
// any is left, so that nothing is removed through a mount.
func unmountAll(dir string) error {
	mps, err := mountPointsUnder(dir)
	if err != nil {
		return fmt.Errorf("reading the mount table: %w", err)
	}
	var failed []error
	for _, mp := range mps {
		// EINVAL: no longer a mount point (an outer detach took it along).
		if err := unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			failed = append(failed, fmt.Errorf("unmount %s: %w", mp, err))
		}
	}
	left, err := mountPointsUnder(dir)
	if err != nil {
		return fmt.Errorf("reading the mount table: %w", err)
	}
	if len(left) > 0 {
		return fmt.Errorf("still mounted: %s: %w", strings.Join(left, ", "), errors.Join(failed...))
	}
	return nil
}
