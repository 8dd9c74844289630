package compose

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// writeTree writes files (path: content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func loadDir(t *testing.T, dir string) (*Build, []Build, error) {
	t.Helper()
	p, err := Load(context.Background(), LoadOptions{ProjectDir: dir, Files: []string{filepath.Join(dir, "compose.yaml")}, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Builds(p, nil)
	if err != nil || len(bs) == 0 {
		return nil, bs, err
	}
	return &bs[0], bs, nil
}

func tarNames(t *testing.T, b Build) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.WriteContext(&buf); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = string(data)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// A build: service becomes a build of its context, tagged as the
// converter names its image, and its context leaves out what
// .dockerignore excludes but keeps the Dockerfile.
func TestBuildsTarTheContextAsDockerDoes(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"compose.yaml": `
name: shop
services:
  web:
    build:
      context: ./web
      dockerfile: docker/Dockerfile
      target: prod
      args: {VERSION: "1.2", EMPTY: null}
      labels: {team: shop}
`,
		"web/docker/Dockerfile": "FROM base\n",
		"web/app.txt":           "app",
		"web/secret.key":        "no",
		"web/node_modules/x.js": "no",
		"web/logs/keep.log":     "kept by !",
		"web/logs/other.log":    "no",
		"web/.dockerignore":     "*.key\nnode_modules\nlogs/*.log\n!logs/keep.log\ndocker\n",
	})
	b, _, err := loadDir(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Service != "web" || b.Image != "shop-web" || b.Dockerfile != "docker/Dockerfile" || b.Target != "prod" ||
		b.Context != filepath.Join(dir, "web") || b.Labels["team"] != "shop" {
		t.Errorf("build %+v", *b)
	}
	if v := b.Args["VERSION"]; v == nil || *v != "1.2" {
		t.Errorf("args %v", b.Args)
	}
	names := tarNames(t, *b)
	for _, want := range []string{"app.txt", "logs/keep.log", "docker/Dockerfile", ".dockerignore"} {
		if _, ok := names[want]; !ok {
			t.Errorf("context lacks %s: %v", want, keys(names))
		}
	}
	for _, no := range []string{"secret.key", "node_modules/x.js", "node_modules/", "logs/other.log"} {
		if _, ok := names[no]; ok {
			t.Errorf("context has %s, which .dockerignore excludes: %v", no, keys(names))
		}
	}
}

func TestBuildsSendDockerfileInline(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"compose.yaml": `
services:
  job:
    image: tools:1
    build:
      dockerfile_inline: |
        FROM base
        RUN true
`})
	b, _, err := loadDir(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Image != "tools:1" {
		t.Errorf("image %q, want image: as given", b.Image)
	}
	names := tarNames(t, *b)
	if got := names[b.Dockerfile]; !strings.Contains(got, "RUN true") {
		t.Errorf("the inline Dockerfile is not in the context as %s: %v", b.Dockerfile, keys(names))
	}
}

// A context or Dockerfile outside the project is refused, naming the
// service and the key.
func TestBuildsRefuseWhatLeavesTheProject(t *testing.T) {
	for _, tc := range []struct{ name, build, want string }{
		{"context", "context: ../elsewhere", `service "web": build.context "`},
		{"dockerfile", "context: .\n      dockerfile: ../Dockerfile", `service "web": build.dockerfile "../Dockerfile" is not inside build.context`},
		{"remote", "context: https://github.com/x/y.git", `service "web": build.context "https://github.com/x/y.git": remote contexts are not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "proj")
			writeTree(t, root, map[string]string{"elsewhere/Dockerfile": "FROM x\n", "Dockerfile": "FROM x\n",
				"proj/compose.yaml": "services:\n  web:\n    build:\n      " + tc.build + "\n"})
			_, _, err := loadDir(t, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// A build service's pods pull IfNotPresent (the image is not in any
// registry) and the conversion no longer warns about build.
func TestConvertBuildServiceUsesTheBuiltImage(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"compose.yaml": `
name: shop
services:
  web:
    build: .
  tools:
    build: .
    pull_policy: build
`, "Dockerfile": "FROM x\n"})
	p, err := Load(context.Background(), LoadOptions{ProjectDir: dir, Files: []string{filepath.Join(dir, "compose.yaml")}, Environment: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range res.Warnings {
		if strings.HasPrefix(w.Key, "build") {
			t.Errorf("warning about build: %+v", w)
		}
	}
	for _, name := range []string{"web", "tools"} {
		d := findObject[*api.Deployment](res.Objects, name)
		if d == nil {
			t.Fatalf("no Deployment %s", name)
		}
		c := d.Spec.Template.Spec.Containers[0]
		if c.Image != "shop-"+name || c.ImagePullPolicy != api.PullIfNotPresent {
			t.Errorf("%s: image %q pull %q, want shop-%s IfNotPresent", name, c.Image, c.ImagePullPolicy, name)
		}
	}
}
