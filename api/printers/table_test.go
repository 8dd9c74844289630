package printers

import (
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Every kind's cells line up with its columns, wide or not, even for an
// object with nothing set (a new kind's table missing a cell would shift
// every column after it).
func TestCellsMatchColumnsForEveryKind(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, k := range api.Kinds {
		tbl := For(k.Kind)
		if Has(k.Kind) != (tbl != generic) {
			t.Errorf("%s: Has and For disagree", k.Kind)
		}
		o := k.NewObject()
		o.GetObjectMeta().CreationTimestamp = api.NewTime(now.Add(-90 * time.Second))
		for _, wide := range []bool{false, true} {
			cols := tbl.Columns(wide)
			cells := tbl.Cells(o, now, &Options{Wide: wide})
			if tbl.Named() {
				cells = append([]string{"name"}, cells...)
			}
			if len(cells) != len(cols) {
				t.Errorf("%s (wide %v): %d cells for %d columns", k.Kind, wide, len(cells), len(cols))
			}
			headers := len(cols)
			if tbl.Named() {
				headers-- // NAME is the CLI's own
			}
			if len(tbl.Headers(wide)) != headers {
				t.Errorf("%s (wide %v): %d headers for %d columns", k.Kind, wide, len(tbl.Headers(wide)), len(cols))
			}
			for i, c := range cols {
				if c.Header() == "AGE" && cells[i] != "90s" {
					t.Errorf("%s: AGE cell %q", k.Kind, cells[i])
				}
			}
		}
		// The wide columns come after the default ones, at priority 1.
		seenWide := false
		for _, c := range tbl.Columns(true) {
			if c.Priority != 0 && c.Priority != 1 || seenWide && c.Priority == 0 {
				t.Errorf("%s: column %s at priority %d after a wide one", k.Kind, c.Name, c.Priority)
			}
			seenWide = seenWide || c.Priority == 1
		}
	}
}

func TestHeadersAreUpperCasedNames(t *testing.T) {
	tbl := For("DaemonSet")
	want := []string{"DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}
	got := tbl.Headers(true)
	if len(got) != len(want) {
		t.Fatalf("headers %q", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("header %d: %q, want %q", i, got[i], want[i])
		}
	}
	if n := len(tbl.Headers(false)); n != 7 {
		t.Errorf("%d default headers", n)
	}
}
