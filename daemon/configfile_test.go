package daemon

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// agentCommandForTest runs `shoal agent` with args up to the point where
// the agent would start, and returns the settings it would start with.
func agentCommandForTest(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	var got Config
	ran := false
	cmd := newAgentCommand("test", func(_ context.Context, cfg Config, _ *slog.Logger) error {
		got, ran = cfg, true
		return nil
	})
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil && !ran {
		t.Fatal("the command did not reach the agent")
	}
	return got, err
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigFileSetsEveryKindOfFlag(t *testing.T) {
	path := writeConfig(t, `
name: node-7
data-dir: /srv/shoal
join: [10.0.0.11:7481, 10.0.0.12:7481]
dns-upstream: 192.0.2.53, 192.0.2.54:5353
node-labels: {zone: a, disk: ssd}
api-allowed-hosts: [shoal.example.com]
pod-eviction-timeout: 30s
drop-future-records: true
max-clock-offset: 1s
log-level: warn
`)
	cfg, err := agentCommandForTest(t, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "node-7" || cfg.DataDir != "/srv/shoal" || cfg.PodEvictionTimeout != 30*time.Second ||
		!cfg.DropFutureRecords || cfg.MaxClockOffset != time.Second {
		t.Fatalf("scalars: %+v", cfg)
	}
	if strings.Join(cfg.Join, " ") != "10.0.0.11:7481 10.0.0.12:7481" || strings.Join(cfg.DNSUpstreams, " ") != "192.0.2.53 192.0.2.54:5353" ||
		strings.Join(cfg.APIAllowedHosts, " ") != "shoal.example.com" {
		t.Fatalf("lists: join %v upstreams %v hosts %v", cfg.Join, cfg.DNSUpstreams, cfg.APIAllowedHosts)
	}
	if len(cfg.NodeLabels) != 2 || cfg.NodeLabels["zone"] != "a" || cfg.NodeLabels["disk"] != "ssd" {
		t.Fatalf("labels: %v", cfg.NodeLabels)
	}
}

func TestCommandLineAndEnvironmentOverrideTheFile(t *testing.T) {
	path := writeConfig(t, "name: from-file\ndata-dir: /from/file\ncluster-domain: file.local\n")
	t.Setenv("SHOAL_DATA_DIR", "/from/env")
	cfg, err := agentCommandForTest(t, "--config", path, "--name", "from-flag")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "from-flag" || cfg.DataDir != "/from/env" || cfg.ClusterDomain != "file.local" {
		t.Fatalf("name %q (want the flag's), data-dir %q (want the environment's), cluster-domain %q (want the file's)",
			cfg.Name, cfg.DataDir, cfg.ClusterDomain)
	}
}

func TestConfigFileFromTheEnvironment(t *testing.T) {
	t.Setenv("SHOAL_CONFIG", writeConfig(t, "name: via-env-file\n"))
	cfg, err := agentCommandForTest(t)
	if err != nil || cfg.Name != "via-env-file" {
		t.Fatalf("name %q, %v", cfg.Name, err)
	}
}

func TestEveryFlagIsAKey(t *testing.T) {
	cmd := NewAgentCommand("test")
	keys := configKeys(cmd.Flags())
	want := 0
	for _, name := range []string{"name", "data-dir", "join", "node-labels", "node-cert-validity", "log-format", "drop-future-records"} {
		for _, k := range keys {
			if k == name {
				want++
			}
		}
	}
	if want != 7 {
		t.Fatalf("keys %v lack some flags", keys)
	}
	for _, k := range keys {
		if k == configFlag {
			t.Fatal("config is a key of its own file")
		}
	}
	// Every key takes the text its flag does, so the file can set each.
	n := 0
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != configFlag {
			n++
		}
	})
	if n != len(keys) {
		t.Fatalf("%d flags, %d keys", n, len(keys))
	}
}

func TestConfigFileRefusals(t *testing.T) {
	for _, c := range []struct {
		file string
		want []string // in the error
	}{
		{"dataDir: /srv\n", []string{`unknown key "dataDir"`, `did you mean "data-dir"`}},
		{"data_dir: /srv\n", []string{`unknown key "data_dir"`, `did you mean "data-dir"`}},
		{"data-dri: /srv\n", []string{`unknown key "data-dri"`, `did you mean "data-dir"`}},
		{"colour: blue\n", []string{`unknown key "colour"`, "flag names of `shoal agent --help`"}},
		{"config: /etc/other.yaml\n", []string{`unknown key "config"`}},
		{"pod-eviction-timeout: ten seconds\n", []string{`key "pod-eviction-timeout"`, "ten seconds"}},
		{"pod-eviction-timeout: 0.5s\n", []string{"--pod-eviction-timeout", "at least 1s"}},
		{"drop-future-records: maybe\n", []string{`key "drop-future-records"`}},
		{"name: [a, b]\n", []string{`key "name"`, "one value, not a list"}},
		{"join: {a: b}\n", []string{`key "join"`, "not a mapping"}},
		{"name:\n", []string{`key "name"`, "no value"}},
		{"name: a\nname: b\n", []string{"not valid YAML", "name"}},
		{"- name\n", []string{"must be a mapping"}},
		{"name: Bad_Name\n", []string{"--name", "node-1"}},
		{"node-labels: [novalue]\n", []string{"novalue", "key=value"}},
	} {
		path := writeConfig(t, c.file)
		_, err := agentCommandForTest(t, "--config", path)
		if err == nil {
			t.Errorf("%q: accepted", c.file)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q lacks %q", c.file, err, w)
			}
		}
	}
	if _, err := agentCommandForTest(t, "--config", "/nonexistent/agent.yaml"); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("a missing file: %v", err)
	}
}

// A refused file changes no flag, not even the keys before the bad one.
func TestARefusedFileChangesNothing(t *testing.T) {
	cmd := NewAgentCommand("test")
	path := writeConfig(t, "cluster-domain: changed.local\npod-eviction-timeout: soon\n")
	if err := cmd.Flags().Parse(nil); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(cmd.LocalFlags(), path); err == nil {
		t.Fatal("accepted")
	}
	if v, _ := cmd.Flags().GetString("cluster-domain"); v != "cluster.local" {
		t.Fatalf("cluster-domain %q after a refused file", v)
	}
}

func TestAnEmptyFileSetsNothing(t *testing.T) {
	cfg, err := agentCommandForTest(t, "--config", writeConfig(t, "# nothing yet\n"), "--name", "n1")
	if err != nil || cfg.DataDir != "/var/lib/shoal" {
		t.Fatalf("%+v %v", cfg, err)
	}
}
