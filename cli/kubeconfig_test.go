package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api/client"
)

func writeKubeconfig(t *testing.T, dir, name, server, token, ns string) string {
	t.Helper()
	kc := client.NewKubeconfig("shoal", server, []byte("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n"), "admin", token)
	kc.Contexts[0].Context.Namespace = ns
	kc.Contexts = append(kc.Contexts, client.NamedContext{Name: "other", Context: client.ContextEntry{Cluster: "shoal", User: "admin@shoal", Namespace: "elsewhere"}})
	p := filepath.Join(dir, name)
	if err := kc.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConnectionResolution(t *testing.T) {
	dir := t.TempDir()
	first := writeKubeconfig(t, dir, "first", "https://first:7480", "first.token", "team")
	second := writeKubeconfig(t, dir, "second", "https://second:7480", "second.token", "")
	t.Setenv("SHOAL_ADDR", "")
	t.Setenv("SHOAL_TOKEN", "")

	// $KUBECONFIG: the first file of the list that exists.
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing")+string(os.PathListSeparator)+first+string(os.PathListSeparator)+second)
	e := &env{}
	c, err := e.connection()
	if err != nil || c.Server != "https://first:7480" || c.Token != "first.token" || c.Namespace != "team" {
		t.Fatalf("from $KUBECONFIG: %+v %v", c, err)
	}
	// --kubeconfig wins; --context picks another context.
	e = &env{kubeconfig: second, context: "other"}
	if c, err = e.connection(); err != nil || c.Server != "https://second:7480" || c.Namespace != "elsewhere" {
		t.Fatalf("--kubeconfig --context: %+v %v", c, err)
	}
	// --server and --token override the file; so do $SHOAL_ADDR and $SHOAL_TOKEN.
	e = &env{kubeconfig: first, server: "https://h2:7480", token: "x.y"}
	if c, err = e.connection(); err != nil || c.Server != "https://h2:7480" || c.Token != "x.y" || len(c.CAData) == 0 {
		t.Fatalf("overrides: %+v %v", c, err)
	}
	t.Setenv("SHOAL_ADDR", "https://h3:7480")
	t.Setenv("SHOAL_TOKEN", "env.token")
	if c, err = (&env{kubeconfig: first}).connection(); err != nil || c.Server != "https://h3:7480" || c.Token != "env.token" {
		t.Fatalf("environment overrides: %+v %v", c, err)
	}
	t.Setenv("SHOAL_ADDR", "")
	t.Setenv("SHOAL_TOKEN", "")
	// An explicit file that is missing, or a context it lacks, is an error.
	if _, err := (&env{kubeconfig: filepath.Join(dir, "nope")}).connection(); err == nil || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("missing --kubeconfig: %v", err)
	}
	if _, err := (&env{kubeconfig: first, context: "nope"}).connection(); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown context: %v", err)
	}
	// An empty file, as kubectl reads /dev/null: the defaults.
	if c, err = (&env{kubeconfig: os.DevNull}).connection(); err != nil || c.Server != client.DefaultServer || c.Token != "" {
		t.Fatalf("empty kubeconfig: %+v %v", c, err)
	}
	// $KUBECONFIG naming no existing file: no kubeconfig, not ~/.shoal/config.
	t.Setenv("KUBECONFIG", filepath.Join(dir, "missing"))
	t.Setenv("HOME", dir)
	if err := os.MkdirAll(filepath.Join(dir, ".shoal"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeKubeconfig(t, filepath.Join(dir, ".shoal"), "config", "https://home:7480", "home.token", "")
	if c, err = (&env{}).connection(); err != nil || c.Server != client.DefaultServer {
		t.Fatalf("$KUBECONFIG set but missing: %+v %v", c, err)
	}
	// Without $KUBECONFIG: ~/.shoal/config.
	os.Unsetenv("KUBECONFIG")
	if c, err = (&env{}).connection(); err != nil || c.Server != "https://home:7480" {
		t.Fatalf("~/.shoal/config: %+v %v", c, err)
	}
}

func TestConfigViewHidesCredentials(t *testing.T) {
	dir := t.TempDir()
	p := writeKubeconfig(t, dir, "kc", "https://first:7480", "first.secrettoken", "team")
	var out, errOut syncBuffer
	r := newRoot(&env{}, nil)
	r.SetArgs([]string{"--kubeconfig", p, "config", "view"})
	r.SetOut(&out)
	r.SetErr(&errOut)
	if err := r.Execute(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "secrettoken") || !strings.Contains(out.String(), "REDACTED") {
		t.Fatalf("config view:\n%s", out.String())
	}
	r = newRoot(&env{}, nil)
	out = syncBuffer{}
	r.SetArgs([]string{"--kubeconfig", p, "config", "use-context", "other"})
	r.SetOut(&out)
	if err := r.Execute(); err != nil {
		t.Fatal(err)
	}
	kc, err := client.LoadKubeconfig(p)
	if err != nil || kc.CurrentContext != "other" {
		t.Fatalf("use-context: %v %v", kc.CurrentContext, err)
	}
}
