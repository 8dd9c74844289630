package compose

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

func loadFixture(t *testing.T, o LoadOptions) (*types.Project, error) {
	t.Helper()
	dir := filepath.Join("testdata", "load")
	for i, f := range o.Files {
		o.Files[i] = filepath.Join(dir, f)
	}
	if o.Files == nil {
		o.ProjectDir = dir
	}
	if o.Environment == nil {
		o.Environment = []string{}
	}
	return Load(context.Background(), o)
}

func envOf(t *testing.T, p *types.Project, svc string) map[string]string {
	t.Helper()
	s, ok := p.Services[svc]
	if !ok {
		t.Fatalf("no service %q in %v", svc, p.ServiceNames())
	}
	out := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestLoadAsDockerCompose(t *testing.T) {
	p, err := loadFixture(t, LoadOptions{Files: []string{"compose.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "load" {
		t.Errorf("project name %q, want the directory's name %q", p.Name, "load")
	}
	names := p.ServiceNames()
	if want := []string{"cache", "web", "worker"}; !sameSet(names, want) {
		t.Errorf("services %v, want %v (include merged, profile debug off)", names, want)
	}
	web := envOf(t, p, "web")
	for k, v := range map[string]string{"FROM_DOTENV": "from .env", "FROM_ENV_FILE": "web.env", "REFERENCE": "$(NOT_A_REFERENCE)"} {
		if web[k] != v {
			t.Errorf("web: %s=%q, want %q", k, web[k], v)
		}
	}
	if r := p.Services["web"].Restart; r != "unless-stopped" {
		t.Errorf("web restart %q: the x- anchor was not merged", r)
	}
	if img := p.Services["web"].Image; img != "web:latest" {
		t.Errorf("web image %q: ${WEB_TAG:-latest} not defaulted", img)
	}
	w := p.Services["worker"]
	if w.Image != "worker:1" || envOf(t, p, "worker")["BASE"] != "1" {
		t.Errorf("worker did not extend base: image %q env %v", w.Image, w.Environment)
	}
	if got := []string(w.Command); !reflect.DeepEqual(got, []string{"work", "--queue", "jobs"}) {
		t.Errorf("worker command %v", got)
	}
	if _, ok := p.Services["web"].Extensions["x-shoal-note"]; !ok {
		t.Errorf("x- extension of web lost")
	}
}

func TestLoadFlags(t *testing.T) {
	p, err := loadFixture(t, LoadOptions{Files: []string{"compose.yaml", "override.yaml"}, ProjectName: "shop",
		EnvFiles: []string{filepath.Join("testdata", "load", "other.env")}, Profiles: []string{"debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "shop" {
		t.Errorf("-p shop gave %q", p.Name)
	}
	if _, ok := p.Services["debug"]; !ok {
		t.Errorf("--profile debug did not enable service debug")
	}
	web := p.Services["web"]
	if web.Image != "web:override" || web.Deploy == nil || web.Deploy.Replicas == nil || *web.Deploy.Replicas != 3 {
		t.Errorf("the second -f did not override web: image %q deploy %+v", web.Image, web.Deploy)
	}
	if got := envOf(t, p, "web")["FROM_DOTENV"]; got != "from other.env" {
		t.Errorf("--env-file: FROM_DOTENV=%q", got)
	}
	// The process environment wins over env files, as in docker compose.
	p, err = loadFixture(t, LoadOptions{Files: []string{"compose.yaml"}, Environment: []string{"QUEUE=from-shell", "COMPOSE_PROFILES=debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Services["worker"].Command[2]; got != "from-shell" {
		t.Errorf("QUEUE=%q, want the environment's", got)
	}
	if _, ok := p.Services["debug"]; !ok {
		t.Errorf("COMPOSE_PROFILES=debug did not enable service debug")
	}
}

func TestLoadRefusesAMissingRequiredVariable(t *testing.T) {
	_, err := loadFixture(t, LoadOptions{Files: []string{"compose.yaml"}, EnvFiles: []string{filepath.Join("testdata", "load", "web.env")}})
	if err == nil || !strings.Contains(err.Error(), "QUEUE") || !strings.Contains(err.Error(), "set QUEUE to the queue to read") {
		t.Fatalf("want an error naming QUEUE and its message, got %v", err)
	}
}

// Convert keeps an environment value that looks like a Kubernetes
// reference literal.
func TestEnvironmentStaysLiteral(t *testing.T) {
	p, err := loadFixture(t, LoadOptions{Files: []string{"compose.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	_, objs := convertAndApply(t, p)
	d := findObject[*api.Deployment](objs, "web")
	if d == nil {
		t.Fatal("no Deployment web")
	}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if e.Name == "REFERENCE" && e.Value != "$$(NOT_A_REFERENCE)" {
			t.Errorf("REFERENCE=%q: $( must be escaped so the runtime keeps it literal", e.Value)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
