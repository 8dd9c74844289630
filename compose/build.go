package compose

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"path/filepath"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Build is what `shoal compose build` sends for one service with build:
// its context directory, tarred by WriteContext, and the build's options.
type Build struct {
	Service string
	// Image is the name the image is tagged with: the service's image:,
	// else <project>-<service>, as the converter names it.
	Image string
	// Context is the absolute directory of the build context, inside the
	// project directory.
	Context string
	// Dockerfile is the Dockerfile's path inside the context.
	Dockerfile string
	// Inline is build.dockerfile_inline: the Dockerfile's text, sent as
	// the file Dockerfile names.
	Inline  string
	Target  string
	Args    map[string]*string
	Labels  map[string]string
	NoCache bool
	Pull    bool
}

// inlineDockerfile is the name dockerfile_inline's text gets in the
// context sent to the agent.
const inlineDockerfile = ".shoal-dockerfile-inline"

// Builds returns what building the named services (every service with
// build: when none is named) takes, sorted by service. A context or a
// Dockerfile outside the project directory refuses every build, naming
// the service and the key.
func Builds(p *types.Project, names []string) ([]Build, error) {
	want := map[string]bool{}
	for _, n := range names {
		s, ok := p.Services[n]
		if !ok {
			return nil, fmt.Errorf("compose: no such service: %q (the project has %v)", n, serviceNames(p))
		}
		if s.Build == nil {
			return nil, fmt.Errorf("compose: service %q has no build: section; nothing to build", n)
		}
		want[n] = true
	}
	root, err := filepath.Abs(p.WorkingDir)
	if err != nil {
		return nil, fmt.Errorf("compose: project directory: %w", err)
	}
	var out []Build
	var errs []string
	for name, s := range p.Services {
		if s.Build == nil || (len(want) > 0 && !want[name]) {
			continue
		}
		b, err := buildOf(p, root, name, s)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out = append(out, b)
	}
	if len(errs) > 0 {
		sort.Strings(errs)
		return nil, fmt.Errorf("compose: refused:\n  %s", strings.Join(errs, "\n  "))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service < out[j].Service })
	return out, nil
}

// ServiceObjectName is the object name of a service: what the label
// com.docker.compose.service holds.
func ServiceObjectName(name string) string { return objectName(name) }

// ImageOf is the image a service runs: image:, else <project>-<service>.
func ImageOf(p *types.Project, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return objectName(p.Name) + "-" + objectName(s.Name)
}

func buildOf(p *types.Project, root, name string, s types.ServiceConfig) (Build, error) {
	bc := s.Build
	b := Build{Service: name, Image: ImageOf(p, s), Target: bc.Target, Labels: bc.Labels, NoCache: bc.NoCache,
		Pull: bc.Pull, Inline: bc.DockerfileInline}
	ctx := bc.Context
	if ctx == "" {
		ctx = "."
	}
	if strings.Contains(ctx, "://") || strings.HasPrefix(ctx, "git@") {
		return b, fmt.Errorf("service %q: build.context %q: remote contexts are not supported; give a directory of the project", name, ctx)
	}
	if !filepath.IsAbs(ctx) {
		ctx = filepath.Join(root, ctx)
	}
	ctx = filepath.Clean(ctx)
	if !inside(root, ctx) {
		return b, fmt.Errorf("service %q: build.context %q is outside the project directory %s; keep the context inside the project (or give --project-directory)", name, bc.Context, root)
	}
	fi, err := os.Stat(ctx)
	if err != nil || !fi.IsDir() {
		return b, fmt.Errorf("service %q: build.context %q is not a directory", name, bc.Context)
	}
	b.Context = ctx
	switch {
	case bc.DockerfileInline != "":
		b.Dockerfile = inlineDockerfile
	default:
		df := bc.Dockerfile
		if df == "" {
			df = "Dockerfile"
		}
		abs := df
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(ctx, df)
		}
		abs = filepath.Clean(abs)
		if !inside(ctx, abs) || abs == ctx {
			return b, fmt.Errorf("service %q: build.dockerfile %q is not inside build.context %s; put the Dockerfile in the context (or use dockerfile_inline)", name, bc.Dockerfile, ctx)
		}
		rel, _ := filepath.Rel(ctx, abs)
		b.Dockerfile = filepath.ToSlash(rel)
	}
	for k, v := range bc.Args {
		if b.Args == nil {
			b.Args = map[string]*string{}
		}
		b.Args[k] = v
	}
	return b, nil
}

// inside reports whether path is dir or below it.
func inside(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// WriteContext writes the build context of b to w as an uncompressed tar,
// leaving out what the context's .dockerignore excludes, as the docker
// CLI does (the Dockerfile and .dockerignore are sent whatever it says).
// Links stay links; sockets and devices are left out.
func (b Build) WriteContext(w io.Writer) error {
	excludes, err := readIgnore(b.Context)
	if err != nil {
		return err
	}
	if len(excludes) > 0 {
		excludes = append(excludes, "!.dockerignore", "!"+b.Dockerfile)
	}
	pm, err := patternmatcher.New(excludes)
	if err != nil {
		return fmt.Errorf("service %q: .dockerignore: %w", b.Service, err)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(b.Context, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.Context, p)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		return addFile(tw, p, rel, d)
	})
	if err != nil {
		return fmt.Errorf("service %q: reading build.context %s: %w", b.Service, b.Context, err)
	}
	if b.Inline != "" {
		h := &tar.Header{Name: inlineDockerfile, Mode: 0o644, Size: int64(len(b.Inline)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, b.Inline); err != nil {
			return err
		}
	}
	return tw.Close()
}

func readIgnore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

func addFile(tw *tar.Writer, p, rel string, d fs.DirEntry) error {
	fi, err := d.Info()
	if err != nil {
		return err
	}
	var link string
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	case fi.Mode().IsRegular(), fi.IsDir():
	default:
		return nil // sockets, pipes, devices: not build input
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = rel
	if fi.IsDir() {
		h.Name += "/"
	}
	// The owner on this machine means nothing to the engine's host.
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.Format = tar.FormatPAX
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
