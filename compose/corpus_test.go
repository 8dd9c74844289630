package compose

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const corpusDir = "testdata/corpus"

// corpusCase is what a corpus file needs around it (variables, side files)
// and what shoal makes of it: accepted, or refused naming these keys.
type corpusCase struct {
	env     []string
	files   map[string]string // side files, relative to the project directory
	refused []string          // keys the refusal must name; none: accepted
	// loaderRefuses: compose-go's loader (and so docker compose) refuses
	// the file, naming this; the converter is then run on the project
	// loaded without the consistency check.
	loaderRefuses string
}

func TestCorpus(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".yml") || strings.HasSuffix(n, ".yaml") {
			files = append(files, n)
		}
	}
	if len(files) != 26 {
		t.Fatalf("%d compose files in %s, want the corpus's 26", len(files), corpusDir)
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "proj")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			src, err := os.ReadFile(filepath.Join(corpusDir, name))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, src, 0o644); err != nil {
				t.Fatal(err)
			}
			c := corpus[name]
			for p, content := range c.files {
				fp := filepath.Join(dir, p)
				_ = os.MkdirAll(filepath.Dir(fp), 0o755)
				if err := os.WriteFile(fp, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := LoadOptions{Files: []string{file}, Environment: append([]string{"HOME=/home/user"}, c.env...)}
			p, err := Load(context.Background(), o)
			if c.loaderRefuses != "" {
				if err == nil || !strings.Contains(err.Error(), c.loaderRefuses) {
					t.Fatalf("the loader accepted it, or refused it without naming %q: %v", c.loaderRefuses, err)
				}
				t.Logf("compose-go refuses it: %v", err)
				o.skipConsistency = true
				p, err = Load(context.Background(), o)
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if _, err := Config(p, "yaml"); err != nil {
				t.Fatalf("config: %v", err)
			}
			res, err := Convert(p, Options{PodSecurity: "privileged"})
			var refused *RefusedError
			switch {
			case len(c.refused) == 0 && err != nil:
				t.Fatalf("convert refused it: %v", err)
			case len(c.refused) > 0 && !errors.As(err, &refused):
				t.Fatalf("convert accepted it (err %v), want a refusal naming %v", err, c.refused)
			case len(c.refused) > 0:
				var keys []string
				for _, i := range refused.Issues {
					keys = append(keys, i.Key)
				}
				sort.Strings(keys)
				for _, k := range c.refused {
					if !strings.Contains(err.Error(), k) {
						t.Errorf("refusal does not name %q: %v", k, err)
					}
				}
				t.Logf("refused: %v", err)
				return
			}
			_, _ = convertAndApply(t, p)
			t.Logf("accepted: %d objects, %d warnings:\n%s", len(res.Objects), len(res.Warnings), warningsText(res))
		})
	}
}

var dbPassword = map[string]string{"db/password.txt": "s3cret\n"}

var corpus = map[string]corpusCase{
	"awesome-compose--nginx-flask-mysql.yaml":     {files: dbPassword},
	"awesome-compose--nginx-golang-postgres.yaml": {files: dbPassword},
	"awesome-compose--react-express-mysql.yaml":   {files: dbPassword},
	"awesome-compose--react-java-mysql.yaml":      {files: dbPassword},
	"awesome-compose--wasmedge-kafka-mysql.yml":   {refused: []string{"runtime", "platform"}},
	"compose-go--full-example.yml": {loaderRefuses: "network_mode", refused: []string{"network_mode"},
		env: []string{"BAR=bar"}, files: map[string]string{"example1.env": "FOO=foo_from_env_file\n", "example2.env": "BAR=bar_from_env_file_2\n",
			"config_data": "config\n", "secret_data": "secret\n"}},
	"docker-compose--e2e-configs.yaml": {env: []string{"CONFIG=config"},
		files: map[string]string{"config.txt": "from a file\n"}},
	"docker-compose--e2e-env-priority-compose-with-env-file.yaml": {files: map[string]string{".env.override": "WHEREAMI=Env File\n"}},
	"dockerswarm.rocks--traefik-host.yml": {env: []string{"EMAIL=admin@example.com", "DOMAIN=example.com", "USERNAME=admin",
		"HASHED_PASSWORD=$apr1$x$y"}},
	"swarmprom--docker-compose.yml": {files: map[string]string{"caddy/Caddyfile": ":9090 {}\n", "dockerd-exporter/Caddyfile": ":9323 {}\n",
		"prometheus/rules/swarm_node.rules.yml": "groups: []\n", "prometheus/rules/swarm_task.rules.yml": "groups: []\n"}},
}
