package daemon

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The full example of docs/install.md names every key, and the agent takes
// it as it is.
func TestInstallDocumentsEveryKey(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- config-example -->\\s*```yaml\\n(.*?)```\\s*<!-- /config-example -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/install.md: no ```yaml block between <!-- config-example --> and <!-- /config-example -->")
	}
	path := writeConfig(t, string(m[1]))
	values, err := readConfigFile(NewAgentCommand("test").LocalFlags(), path)
	if err != nil {
		t.Fatalf("the documented example: %v", err)
	}
	for _, k := range configKeys(NewAgentCommand("test").LocalFlags()) {
		if _, ok := values[k]; !ok {
			t.Errorf("the documented example lacks the key %q", k)
		}
	}
	// The example parses into settings the agent accepts (its files for
	// tls-cert are not read before the agent starts).
	cfg, err := agentCommandForTest(t, "--config", path)
	if err != nil {
		t.Fatalf("the agent refuses the documented example: %v", err)
	}
	if cfg.NodeLabels["disk"] != "ssd" || len(cfg.Join) != 2 || cfg.Advertise != "10.0.0.11:7481" {
		t.Fatalf("read: %+v", cfg)
	}
}

// The unit docs/install.md shows is the one install writes, but for its
// comments.
func TestInstallDocumentsTheUnit(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "install.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- unit -->\\s*```ini\\n(.*?)```\\s*<!-- /unit -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/install.md: no ```ini block between <!-- unit --> and <!-- /unit -->")
	}
	unit, err := renderUnit(defaultBinPath, defaultConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(unit, "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if got, want := strings.TrimSpace(string(m[1])), strings.TrimSpace(strings.Join(lines, "\n")); got != want {
		t.Fatalf("docs/install.md shows:\n%s\n\nshoal install writes:\n%s", got, want)
	}
}
