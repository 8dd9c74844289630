package cli

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/internal/poll"
)

// fakeBuilder plays the engine of the agent's host: it reads the context
// and keeps what each build got; built images are then there.
type fakeBuilder struct {
	mu     sync.Mutex
	builds []fakeBuild
	images map[string]string
}

type fakeBuild struct {
	spec  engine.BuildSpec
	files map[string]string
}

func (f *fakeBuilder) BuildImage(_ context.Context, in io.Reader, spec engine.BuildSpec, progress func(string)) (string, error) {
	files := map[string]string{}
	tr := tar.NewReader(in)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		data, _ := io.ReadAll(tr)
		files[h.Name] = string(data)
	}
	progress("Step 1/1 : FROM base\n")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.builds = append(f.builds, fakeBuild{spec, files})
	if f.images == nil {
		f.images = map[string]string{}
	}
	for _, t := range spec.Tags {
		f.images[t] = "sha256:feedfacecafe0001"
	}
	return "sha256:feedfacecafe0001", nil
}

func (f *fakeBuilder) InspectImage(_ context.Context, ref string) (engine.ImageInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id, ok := f.images[ref]; ok {
		return engine.ImageInfo{ID: id}, nil
	}
	return engine.ImageInfo{}, engine.ErrImageNotFound
}

func (f *fakeBuilder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.builds)
}

const buildCompose = `
name: shop
services:
  web:
    build:
      context: ./web
      target: prod
      args: {VERSION: "2"}
  db:
    image: img:db
`

func TestComposeBuildSendsTheContextAndUpBuildsWhatIsMissing(t *testing.T) {
	srv := clienttest.NewServer(t)
	fb := &fakeBuilder{}
	srv.SetBuilder(fb)
	dir := writeProject(t, map[string]string{"compose.yaml": buildCompose,
		"web/Dockerfile": "FROM base\n", "web/main.go": "package main", "web/.dockerignore": "*.tmp\n", "web/x.tmp": "no"})
	f := filepath.Join(dir, "compose.yaml")

	r := shoal(t, srv, "", "compose", "-f", f, "build")
	expectOK(t, r)
	if !strings.Contains(r.stdout, "web | Step 1/1 : FROM base") || !strings.Contains(r.stdout, "web | built shop-web (feedfacecafe)") {
		t.Errorf("build output:\n%s", r.stdout)
	}
	if fb.count() != 1 {
		t.Fatalf("%d builds, want 1 (db has no build:)", fb.count())
	}
	b := fb.builds[0]
	if b.spec.Tags[0] != "shop-web" || b.spec.Target != "prod" || *b.spec.BuildArgs["VERSION"] != "2" || b.spec.Dockerfile != "Dockerfile" {
		t.Errorf("build spec %+v", b.spec)
	}
	if _, ok := b.files["main.go"]; !ok {
		t.Errorf("context lacks main.go: %v", b.files)
	}
	if _, ok := b.files["x.tmp"]; ok {
		t.Errorf("context has x.tmp, which .dockerignore excludes")
	}
	if srv.Object(api.KindNamespace, "", "shop") != nil {
		t.Errorf("build created the namespace")
	}

	// up: the image is there, so nothing is built; the pods use it.
	r = shoal(t, srv, "", "compose", "-f", f, "up", "-d")
	expectOK(t, r)
	if fb.count() != 1 || !strings.Contains(r.stdout, "web | image shop-web is there") {
		t.Errorf("up built an image that is there (%d builds):\n%s", fb.count(), r.stdout)
	}
	web := srv.Object(api.KindDeployment, "shop", "web").(*api.Deployment)
	if c := web.Spec.Template.Spec.Containers[0]; c.Image != "shop-web" || c.ImagePullPolicy != api.PullIfNotPresent {
		t.Errorf("web runs %q pull %q", c.Image, c.ImagePullPolicy)
	}
	// up --build builds it again; up --no-build does not.
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d", "--build"))
	if fb.count() != 2 {
		t.Errorf("up --build: %d builds, want 2", fb.count())
	}
	fb.mu.Lock()
	fb.images = nil
	fb.mu.Unlock()
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d", "--no-build"))
	if fb.count() != 2 {
		t.Errorf("up --no-build built")
	}
	expectOK(t, shoal(t, srv, "", "compose", "-f", f, "up", "-d"))
	if fb.count() != 3 {
		t.Errorf("up with the image missing: %d builds, want 3", fb.count())
	}
}

// A context outside the project is refused before anything is sent or
// created, naming the service and the key.
func TestComposeUpRefusesAContextOutsideTheProject(t *testing.T) {
	srv := clienttest.NewServer(t)
	fb := &fakeBuilder{}
	srv.SetBuilder(fb)
	dir := writeProject(t, map[string]string{"compose.yaml": "name: shop\nservices:\n  web:\n    build: ../outside\n", "../outside/Dockerfile": "FROM x\n"})
	for _, verb := range [][]string{{"build"}, {"up", "-d"}, {"up", "-d", "--no-build"}} {
		r := shoal(t, srv, "", append([]string{"compose", "-f", filepath.Join(dir, "compose.yaml")}, verb...)...)
		if r.code == 0 || !strings.Contains(r.stderr, `service "web": build.context "`) || !strings.Contains(r.stderr, "outside the project directory") {
			t.Fatalf("%v: %d %s", verb, r.code, r.stderr)
		}
	}
	if fb.count() != 0 || srv.Object(api.KindNamespace, "", "shop") != nil {
		t.Errorf("a refused project built (%d) or created its namespace", fb.count())
	}
}

// Only a caller that may create pods in the project's namespace builds.
func TestComposeBuildNeedsCreatePods(t *testing.T) {
	srv := clienttest.NewServer(t)
	fb := &fakeBuilder{}
	srv.SetBuilder(fb)
	dir := writeProject(t, map[string]string{"compose.yaml": buildCompose, "web/Dockerfile": "FROM base\n"})
	f := filepath.Join(dir, "compose.yaml")
	srv.Add(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "shop", Labels: map[string]string{"com.docker.compose.project": "shop"}}})
	viewer := srv.UserToken("viewer", "shop", "view")
	editor := srv.UserToken("editor", "shop", "edit")
	var r result
	poll.Cond(t, 5*time.Second, "the viewer's token to be known", func() bool {
		r = shoal(t, srv, "", "--token", viewer, "compose", "-f", f, "build")
		return strings.Contains(r.stderr, "forbidden")
	})
	if r.code == 0 || !strings.Contains(r.stderr, `cannot create resource "pods"`) || fb.count() != 0 {
		t.Fatalf("a viewer built: %d %s", r.code, r.stderr)
	}
	poll.Cond(t, 5*time.Second, "the editor's binding to be known", func() bool {
		r = shoal(t, srv, "", "--token", editor, "compose", "-f", f, "build")
		return r.code == 0
	})
	expectOK(t, r)
	if fb.count() != 1 {
		t.Errorf("an editor's build did not run")
	}
}
