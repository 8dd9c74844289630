package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

func checkOutput(o string) error {
	switch o {
	case outputTable, outputWide, outputJSON, outputYAML, outputName:
		return nil
	}
	return fmt.Errorf("unable to match a printer suitable for the output format %q, allowed formats are: json,name,wide,yaml", o)
}

// Table layout, as kubectl sets up its tabwriter.
const (
	tabMinWidth = 6
	tabWidth    = 4
	tabPadding  = 3
)

// tableOptions shape the columns of a table.
type tableOptions struct {
	wide          bool
	withNamespace bool // -A: a NAMESPACE column first
	withKind      bool // several kinds: names as pod/web
	showLabels    bool
	// loads are the pods' requests per node, for the node table; nil when
	// they could not be read.
	loads map[string]*printers.NodeLoad
}

// tablePrinter writes one kind's objects as an aligned table. It remembers
// the column widths it has printed so that rows printed later, one at a time
// by `get -w`, stay aligned with the header.
type tablePrinter struct {
	w      io.Writer
	kind   *api.Kind
	table  *printers.Table
	opts   tableOptions
	now    time.Time
	widths []int
}

func newTablePrinter(w io.Writer, k *api.Kind, opts tableOptions, now time.Time) *tablePrinter {
	if !k.Namespaced {
		opts.withNamespace = false
	}
	return &tablePrinter{w: w, kind: k, table: printers.For(k.Kind), opts: opts, now: now}
}

func (p *tablePrinter) header() []string {
	var h []string
	if p.opts.withNamespace {
		h = append(h, "NAMESPACE")
	}
	if p.table.Named() {
		h = append(h, "NAME")
	}
	h = append(h, p.table.Headers(p.opts.wide)...)
	if p.opts.showLabels {
		h = append(h, "LABELS")
	}
	return h
}

func (p *tablePrinter) row(o api.Object) []string {
	m := o.GetObjectMeta()
	var r []string
	if p.opts.withNamespace {
		r = append(r, m.Namespace)
	}
	if p.table.Named() {
		name := m.Name
		if p.opts.withKind {
			name = qualifiedName(p.kind, o)
		}
		r = append(r, name)
	}
	r = append(r, p.table.Cells(o, p.now, &printers.Options{Wide: p.opts.wide, Loads: p.opts.loads})...)
	if p.opts.showLabels {
		r = append(r, printers.LabelsString(m.Labels))
	}
	return r
}

// print writes the header and every object's row.
func (p *tablePrinter) print(objs []api.Object) error {
	lines := [][]string{p.header()}
	for _, o := range objs {
		lines = append(lines, p.row(o))
	}
	return p.write(lines)
}

// printRow writes one more row, aligned with what was printed before; the
// header comes first if nothing was.
func (p *tablePrinter) printRow(o api.Object) error {
	if p.widths == nil {
		return p.write([][]string{p.header(), p.row(o)})
	}
	return p.write([][]string{p.row(o)})
}

// write aligns lines with text/tabwriter. Cells are first padded to the
// widths remembered from earlier writes, which tabwriter then keeps.
func (p *tablePrinter) write(lines [][]string) error {
	tw := tabwriter.NewWriter(p.w, tabMinWidth, tabWidth, tabPadding, ' ', 0)
	for _, cells := range lines {
		p.remember(cells)
	}
	for _, cells := range lines {
		padded := make([]string, len(cells))
		for i, c := range cells {
			padded[i] = c
			if i < len(cells)-1 {
				padded[i] += strings.Repeat(" ", max(0, p.widths[i]-tabPadding-utf8.RuneCountInString(c)))
			}
		}
		if _, err := fmt.Fprintln(tw, strings.Join(padded, "\t")); err != nil {
			return err
		}
	}
	return tw.Flush()
}

func (p *tablePrinter) remember(cells []string) {
	for len(p.widths) < len(cells) {
		p.widths = append(p.widths, tabMinWidth)
	}
	for i, c := range cells {
		p.widths[i] = max(p.widths[i], utf8.RuneCountInString(c)+tabPadding)
	}
}

// printTable aligns lines as the object tables are, for tables of things
// that are not objects, such as the members of the cluster.
func printTable(w io.Writer, lines [][]string) error {
	return (&tablePrinter{w: w}).write(lines)
}

// printNames writes kind/name lines, the -o name format.
func printNames(w io.Writer, k *api.Kind, objs []api.Object) error {
	for _, o := range objs {
		if _, err := fmt.Fprintln(w, qualifiedName(k, o)); err != nil {
			return err
		}
	}
	return nil
}

// listDocument is a Kubernetes list: PodList, or List for mixed kinds.
type listDocument struct {
	Kind       string       `json:"kind"`
	APIVersion string       `json:"apiVersion"`
	Metadata   api.ListMeta `json:"metadata"`
	Items      []api.Object `json:"items"`
}

func newList(kind, apiVersion, rv string, items []api.Object) *listDocument {
	if items == nil {
		items = []api.Object{}
	}
	return &listDocument{Kind: kind, APIVersion: apiVersion, Metadata: api.ListMeta{ResourceVersion: rv}, Items: items}
}

// printDocument writes v as indented JSON or as YAML.
func printDocument(w io.Writer, format string, v any) error {
	data, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding the output: %w", err)
	}
	if format == outputYAML {
		if data, err = yaml.JSONToYAML(data); err != nil {
			return fmt.Errorf("encoding the output as YAML: %w", err)
		}
		_, err = w.Write(data)
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}

// listNodeLoads reads every pod to sum what each node carries. A token that
// may not list pods everywhere still gets its node table, with the sums
// shown as unknown (nil loads).
func listNodeLoads(ctx context.Context, c *client.Client) (map[string]*printers.NodeLoad, error) {
	pods, _, err := client.ListAs[api.Pod](ctx, c, "", api.ListOptions{})
	if api.ReasonOf(err) == api.ReasonForbidden {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing pods to sum the requests on each node: %w", err)
	}
	return printers.NodeLoads(pods), nil
}

// needsNodeLoads reports whether a table of these results has a node row.
func needsNodeLoads(results []kindResult) bool {
	for _, r := range results {
		if r.kind == api.KindNode && len(r.objs) > 0 {
			return true
		}
	}
	return false
}
