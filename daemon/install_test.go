package daemon

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// install runs `shoal install` with args and returns its output.
func install(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewInstallCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return out.String(), err
}

// tmpPaths are --unit, --config and --bin below a temporary directory.
func tmpPaths(t *testing.T) (dir string, args []string) {
	dir = t.TempDir()
	return dir, []string{"--unit", filepath.Join(dir, "systemd", "shoal.service"),
		"--config", filepath.Join(dir, "etc", "agent.yaml"), "--bin", filepath.Join(dir, "bin", "shoal")}
}

func TestInstallPrintWritesNothing(t *testing.T) {
	dir, paths := tmpPaths(t)
	out, err := install(t, append(paths, "--print", "--name", "node-1")...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[Service]", "ExecStart=" + filepath.Join(dir, "bin", "shoal") + " agent --config " + filepath.Join(dir, "etc", "agent.yaml"), "name: node-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("--print output lacks %q:\n%s", want, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("--print wrote %d entries", len(entries))
	}
}

// The written file, read back by the agent, gives the settings install was
// given.
func TestInstallWritesAConfigTheAgentReadsBack(t *testing.T) {
	dir, paths := tmpPaths(t)
	out, err := install(t, append(paths, "--name", "node-1", "--join", "10.0.0.11:7481,10.0.0.12:7481",
		"--node-labels", "zone=a,disk=ssd", "--pod-eviction-timeout", "30s", "--drop-future-records", "--join-token", "s3cret")...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "systemctl daemon-reload && systemctl enable --now shoal") {
		t.Errorf("no next step in %q", out)
	}
	conf := filepath.Join(dir, "etc", "agent.yaml")
	if fi, err := os.Stat(conf); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file %v %v: want mode 0600 (it holds the join token)", fi, err)
	}
	text, _ := os.ReadFile(conf)
	if !strings.Contains(string(text), "- 10.0.0.11:7481") || !strings.Contains(string(text), "zone: a") {
		t.Errorf("lists and labels not written as YAML lists and mappings:\n%s", text)
	}
	cfg, err := agentCommandForTest(t, "--config", conf)
	if err != nil {
		t.Fatalf("the agent refuses the file install wrote: %v\n%s", err, text)
	}
	if cfg.Name != "node-1" || strings.Join(cfg.Join, ",") != "10.0.0.11:7481,10.0.0.12:7481" || cfg.NodeLabels["disk"] != "ssd" ||
		cfg.PodEvictionTimeout.String() != "30s" || !cfg.DropFutureRecords || cfg.JoinToken != "s3cret" {
		t.Fatalf("read back: %+v", cfg)
	}
	bin := filepath.Join(dir, "bin", "shoal")
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 || fi.Size() == 0 {
		t.Fatalf("binary %v %v", fi, err)
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "systemd", "shoal.service"))
	if !strings.Contains(string(unit), "ExecStart="+bin+" agent --config "+conf) {
		t.Fatalf("unit:\n%s", unit)
	}
	// A second install does not overwrite what is there without --force.
	if _, err := install(t, append(paths, "--name", "node-2")...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("second install: %v", err)
	}
	if _, err := install(t, append(paths, "--name", "node-2", "--force")...); err != nil {
		t.Fatal(err)
	}
	if text, _ := os.ReadFile(conf); !strings.Contains(string(text), "name: node-2") {
		t.Fatalf("--force did not replace the file:\n%s", text)
	}
}

func TestInstallRefusesWhatTheAgentWould(t *testing.T) {
	dir, paths := tmpPaths(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--name", "Bad_Name"}, "--name"},
		{[]string{"--pod-eviction-timeout", "1ms"}, "--pod-eviction-timeout"},
		{[]string{"--log-format", "xml"}, "--log-format"},
		{[]string{"--bin", "shoal"}, "--bin"},
		{[]string{"--config", "/etc/my shoal/agent.yaml"}, "--config"},
	} {
		_, err := install(t, append(append([]string{}, paths...), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error naming %s", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused install wrote %d entries", len(entries))
	}
}

// systemd's own checker accepts the unit (systemd-analyze is in Debian's
// systemd package; the hosts of the tests have it without systemd running).
func TestInstalledUnitPassesSystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
	}
	dir, paths := tmpPaths(t)
	if _, err := install(t, paths...); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "systemd", "shoal.service")
	if problems := verifyUnit(t, analyze, unit); len(problems) > 0 {
		t.Fatalf("systemd-analyze verify %s:\n%s", unit, strings.Join(problems, "\n"))
	}
	// The check catches a broken unit (verify warns, and exits 0, on an
	// unknown key or a bad value: every line it prints counts).
	good, _ := os.ReadFile(unit)
	broken := filepath.Join(dir, "systemd", "broken.service")
	if err := os.WriteFile(broken, bytes.Replace(good, []byte("Restart=always"), []byte("Restart=sometimes\nProtectEverything=yes"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if problems := verifyUnit(t, analyze, broken); len(problems) < 2 {
		t.Fatalf("systemd-analyze verify found %d problems in a unit with two: %q", len(problems), problems)
	}
}

// verifyUnit returns what systemd-analyze verify says about the unit, but
// for the units it names that this machine lacks (docker.service), which
// are not the unit's fault.
func verifyUnit(t *testing.T, analyze, unit string) []string {
	t.Helper()
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	var problems []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || strings.Contains(line, "docker.service") || strings.Contains(line, "network-online.target") {
			continue
		}
		problems = append(problems, line)
	}
	if err != nil && len(problems) == 0 {
		problems = append(problems, err.Error())
	}
	return problems
}
