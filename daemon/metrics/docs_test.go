package metrics

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

var familyName = regexp.MustCompile(`\b(?:shoal|go|process)_[a-z0-9_]+`)

// docs/metrics.md lists every family, and the example dashboard uses only
// families the agent serves.
func TestDocsListEveryFamilyAndTheDashboardUsesOnlyThem(t *testing.T) {
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Families {
		if strings.HasPrefix(name, "shoal_") && !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	known := map[string]bool{"go_memstats_heap_inuse_bytes": true, "process_cpu_seconds_total": true}
	for _, f := range Families {
		known[f] = true
	}
	used := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range familyName.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")
				if !known[base] {
					t.Errorf("panel %q uses %s, which the agent does not serve", p.Title, name)
				}
				used++
			}
		}
	}
	if used < 20 {
		t.Fatalf("the dashboard uses %d families", used)
	}
}
