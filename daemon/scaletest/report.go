package scaletest

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// A row of the table: one or more measured values (joined by " / ") and
// the goal they are held to.
type row struct {
	label string
	keys  []string
	unit  string
	goal  string
}

// rows is the table, in order. The keys are the result files' (stable:
// results of other versions of shoal are compared by them).
var rows = []row{
	{"start → every agent up, registered, seeing every other alive", []string{"formed_s"}, "s", ""},
	{"apply → every pod created / bound / Running", []string{"created_s", "bound_s", "running_s"}, "s", "Running ≤ 30 s (100 agents, 10,000 pods)"},
	{"pods created per second (apply → last created)", []string{"create_rate"}, "pods/s", ""},
	{"pods scheduled and bound per second (first created → last bound)", []string{"bind_rate"}, "pods/s", "≥ 1,000"},
	{"every pod Running → every agent holds the same state", []string{"converged_s"}, "s", ""},
	{"then → every gossip queue empty (the rollout's retransmissions done)", []string{"drained_s"}, "s", ""},
	{"records per agent", []string{"records"}, "", ""},
	{"write seen by every agent's watch, p50 / p99", []string{"write_p50_ms", "write_p99_ms"}, "ms", "p99 < 1,000 ms (100 agents)"},
	{"heap / RSS per agent, one process ÷ agents in it, idle", []string{"heap_idle_mib", "rss_idle_mib"}, "MiB", ""},
	{"heap / RSS per agent, one process ÷ agents in it, all pods", []string{"heap_pods_mib", "rss_pods_mib"}, "MiB", "< 200 MiB (10,000 pods)"},
	{"heap / RSS of one agent in its own process, idle", []string{"child_heap_idle_mib", "child_rss_idle_mib"}, "MiB", ""},
	{"heap / RSS of one agent in its own process, all pods", []string{"child_heap_pods_mib", "child_rss_pods_mib"}, "MiB", "< 200 MiB (10,000 pods)"},
	{"gossip + anti-entropy per agent, idle, no pods", []string{"traffic_idle_kbs"}, "KB/s", "< 20 KB/s"},
	{"gossip + anti-entropy per agent, during the rollout", []string{"traffic_rollout_kbs"}, "KB/s", ""},
	{"gossip + anti-entropy per agent, idle, all pods", []string{"traffic_pods_kbs"}, "KB/s", "< 20 KB/s"},
	{"CPU per agent, one process ÷ agents in it, idle, no pods / all pods", []string{"cpu_idle_pct", "cpu_pods_pct"}, "% of a core", ""},
	{"list of every pod over HTTPS: `shoal get pods -A` / Go client", []string{"list_cli_ms", "list_client_ms"}, "ms", "< 1,000 ms (10,000 pods)"},
	{"kill -9 of one agent → every other sees it dead", []string{"detected_s"}, "s", ""},
	{"its restart → alive on every agent / healed (same state everywhere, its pods running again)", []string{"rejoined_s", "healed_s"}, "s", ""},
	{"pod watch restarts during the run", []string{"relists"}, "", ""},
}

// values are a result by key.
func (r *Result) values() map[string]float64 {
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	ms := func(d interface{ Seconds() float64 }) float64 { return d.Seconds() * 1000 }
	v := map[string]float64{
		"agents": float64(r.Agents), "pods": float64(r.Pods), "in_process": float64(r.InProcess),
		"created_s": r.Created.Seconds(), "bound_s": r.Bound.Seconds(), "running_s": r.Running.Seconds(),
		"create_rate": r.CreateRate, "bind_rate": r.BindRate, "converged_s": r.Converged.Seconds(),
		"drained_s":    r.Drained.Seconds(),
		"records":      float64(r.Records),
		"write_p50_ms": ms(r.WriteP50), "write_p99_ms": ms(r.WriteP99),
		"heap_idle_mib": mib(r.MemIdle.HeapLive), "rss_idle_mib": mib(r.MemIdle.RSS),
		"heap_pods_mib": mib(r.MemPods.HeapLive), "rss_pods_mib": mib(r.MemPods.RSS),
		"traffic_idle_kbs": r.TrafficIdle / 1000, "traffic_rollout_kbs": r.TrafficRollout / 1000,
		"traffic_pods_kbs": r.TrafficPods / 1000,
		"list_client_ms":   ms(r.ListClient),
		"relists":          float64(r.Relists),
		"formed_s":         r.Formed.Seconds(),
		"cpu_idle_pct":     r.CPUIdle, "cpu_pods_pct": r.CPUPods,
	}
	if r.Healed > 0 {
		v["detected_s"], v["rejoined_s"], v["healed_s"] = r.Detected.Seconds(), r.Rejoined.Seconds(), r.Healed.Seconds()
	}
	if r.ChildMemIdle.RSS > 0 {
		v["child_heap_idle_mib"], v["child_rss_idle_mib"] = mib(r.ChildMemIdle.HeapLive), mib(r.ChildMemIdle.RSS)
		v["child_heap_pods_mib"], v["child_rss_pods_mib"] = mib(r.ChildMemPods.HeapLive), mib(r.ChildMemPods.RSS)
	}
	if r.ListCLI > 0 {
		v["list_cli_ms"] = ms(r.ListCLI)
	}
	return v
}

// WriteFile saves the result as lines "key<TAB>value".
func (r *Result) WriteFile(path string) error {
	var b strings.Builder
	for k, v := range r.values() {
		fmt.Fprintf(&b, "%s\t%g\n", k, v)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// ReadResult reads a file WriteFile wrote.
func ReadResult(path string) (map[string]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			continue
		}
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, sc.Text(), err)
		}
		out[k] = x
	}
	return out, sc.Err()
}

// Column is one run in the table, with a baseline run to compare to.
type Column struct {
	Title string
	Head  map[string]float64
	Base  map[string]float64 // nil: no comparison
}

// WriteTable writes the columns as a Markdown table, one row per
// measurement; with a baseline a cell reads "head (baseline; ratio)".
func WriteTable(w io.Writer, cols []Column) {
	fmt.Fprint(w, "| measurement |")
	for _, c := range cols {
		fmt.Fprintf(w, " %s |", c.Title)
	}
	fmt.Fprint(w, " goal |\n|---|")
	for range cols {
		fmt.Fprint(w, "---|")
	}
	fmt.Fprint(w, "---|\n")
	for _, r := range rows {
		label := r.label
		if r.unit != "" {
			label += " (" + r.unit + ")"
		}
		fmt.Fprintf(w, "| %s |", label)
		for _, c := range cols {
			cell := cellOf(c.Head, r.keys)
			if c.Base != nil {
				cell = fmt.Sprintf("%s (was %s; %s)", cell, cellOf(c.Base, r.keys), ratios(c.Head, c.Base, r.keys))
			}
			fmt.Fprintf(w, " %s |", cell)
		}
		fmt.Fprintf(w, " %s |\n", r.goal)
	}
}

func cellOf(v map[string]float64, keys []string) string {
	var parts []string
	for _, k := range keys {
		x, ok := v[k]
		if !ok {
			parts = append(parts, "–")
			continue
		}
		parts = append(parts, format(x))
	}
	return strings.Join(parts, " / ")
}

func ratios(head, base map[string]float64, keys []string) string {
	var parts []string
	for _, k := range keys {
		h, okh := head[k]
		b, okb := base[k]
		if !okh || !okb || b == 0 {
			parts = append(parts, "–")
			continue
		}
		parts = append(parts, fmt.Sprintf("%.2fx", h/b))
	}
	return strings.Join(parts, " / ")
}

// format prints 3 significant digits at most, without exponents.
func format(x float64) string {
	switch {
	case x == math.Trunc(x) && math.Abs(x) < 1e15:
		return strconv.FormatInt(int64(x), 10)
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// TableEnv, set to lines "title<TAB>result file[<TAB>baseline file]",
// makes this test binary print those results as a Markdown table instead
// of running tests (scripts/bench-scale uses it).
const TableEnv = "SHOAL_SCALE_TABLE"

// PrintTable prints the table TableEnv asks for and exits, if it is set;
// it returns at once otherwise.
func PrintTable() {
	spec, ok := os.LookupEnv(TableEnv)
	if !ok {
		return
	}
	var cols []Column
	for _, line := range strings.Split(strings.TrimSpace(spec), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			fmt.Fprintf(os.Stderr, "%s: %q is not title<TAB>file[<TAB>baseline file]\n", TableEnv, line)
			os.Exit(2)
		}
		col := Column{Title: f[0]}
		var err error
		if col.Head, err = ReadResult(f[1]); err == nil && len(f) > 2 && f[2] != "" {
			col.Base, err = ReadResult(f[2])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cols = append(cols, col)
	}
	WriteTable(os.Stdout, cols)
	os.Exit(0)
}
