package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

type topOptions struct {
	selector, sortBy        string
	allNamespaces, noHeader bool
	containers              bool
}

func newTopCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top nodes|pods",
		Short: "Show the CPU and memory that nodes and pods use now",
		Long: `top reads the resource metrics API (metrics.k8s.io), which every agent
measures from its engine: CPU in millicores averaged over a short window,
memory as the working set.`,
	}
	cmd.AddCommand(newTopNodesCommand(e), newTopPodsCommand(e))
	return cmd
}

func (o *topOptions) flags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVarP(&o.selector, "selector", "l", "", "only what these labels select")
	f.StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory, the largest first")
	f.BoolVar(&o.noHeader, "no-headers", false, "leave out the header line")
}

func (o *topOptions) check(cmd *cobra.Command) (api.Selector, error) {
	if o.sortBy != "" && o.sortBy != "cpu" && o.sortBy != "memory" {
		return nil, usageError(cmd, "--sort-by %q is not known: use cpu or memory", o.sortBy)
	}
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return nil, usageError(cmd, "--selector: %v", err)
	}
	return sel, nil
}

func newTopNodesCommand(e *env) *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Show the CPU and memory each node uses, and its share of what the node offers",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := o.check(cmd)
			if err != nil {
				return err
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			return topNodes(cmd, c, o, sel, args)
		},
	}
	o.flags(cmd)
	return cmd
}

func newTopPodsCommand(e *env) *cobra.Command {
	o := &topOptions{}
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Show the CPU and memory each pod (or container) uses",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := o.check(cmd)
			if err != nil {
				return err
			}
			if o.allNamespaces && len(args) > 0 {
				return usageError(cmd, "a pod cannot be named across all namespaces: leave out -A or the name")
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			ns := e.namespace
			if o.allNamespaces {
				ns = ""
			}
			return topPods(cmd, c, o, sel, ns, args)
		},
	}
	o.flags(cmd)
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "the pods of every namespace")
	cmd.Flags().BoolVar(&o.containers, "containers", false, "one line for each container")
	cmd.ValidArgsFunction = completePods(e)
	return cmd
}

// usage is one line of top: millicores and bytes.
type usage struct {
	cols        []string
	cpu, memory int64
}

func usageOf(l api.ResourceList) usage {
	return usage{cpu: l[api.ResourceCPU].MilliValue(), memory: l[api.ResourceMemory].Value()}
}

// kubectl's formats: whole millicores and whole mebibytes.
func cpuText(m int64) string { return fmt.Sprintf("%dm", m) }
func memText(b int64) string { return fmt.Sprintf("%dMi", b/(1<<20)) }

func sortUsage(rows []usage, by string) {
	sort.SliceStable(rows, func(i, j int) bool {
		switch by {
		case "cpu":
			return rows[i].cpu > rows[j].cpu
		case "memory":
			return rows[i].memory > rows[j].memory
		}
		return false
	})
}

func topNodes(cmd *cobra.Command, c *client.Client, o *topOptions, sel api.Selector, args []string) error {
	ctx := cmd.Context()
	metrics, err := c.NodeMetrics(ctx, sel)
	if err != nil {
		return err
	}
	nodes, _, err := client.ListAs[api.Node](ctx, c, "", api.ListOptions{LabelSelector: sel})
	if err != nil {
		return err
	}
	byName := map[string]*api.Node{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	var rows []usage
	for _, m := range metrics {
		if len(args) > 0 && m.Name != args[0] {
			continue
		}
		u := usageOf(m.Usage)
		cpuPct, memPct := "<unknown>", "<unknown>"
		if n := byName[m.Name]; n != nil {
			if q, ok := printers.Allocatable(n, api.ResourceCPU); ok && q.MilliValue() > 0 {
				cpuPct = fmt.Sprintf("%d%%", u.cpu*100/q.MilliValue())
			}
			if q, ok := printers.Allocatable(n, api.ResourceMemory); ok && q.Value() > 0 {
				memPct = fmt.Sprintf("%d%%", u.memory*100/q.Value())
			}
		}
		u.cols = []string{m.Name, cpuText(u.cpu), cpuPct, memText(u.memory), memPct}
		rows = append(rows, u)
	}
	if len(rows) == 0 {
		if len(args) > 0 {
			return fmt.Errorf("metrics not available yet for node %q: a new agent measures within a few seconds", args[0])
		}
		return fmt.Errorf("metrics not available yet: a new agent measures within a few seconds")
	}
	if o.sortBy == "" {
		sort.SliceStable(rows, func(i, j int) bool { return rows[i].cols[0] < rows[j].cols[0] })
	}
	sortUsage(rows, o.sortBy)
	return printUsage(cmd, o, []string{"NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"}, rows)
}

func topPods(cmd *cobra.Command, c *client.Client, o *topOptions, sel api.Selector, ns string, args []string) error {
	metrics, err := c.PodMetrics(cmd.Context(), ns, sel)
	if err != nil {
		return err
	}
	var rows []usage
	for _, m := range metrics {
		if len(args) > 0 && m.Name != args[0] {
			continue
		}
		var pre []string
		if o.allNamespaces {
			pre = []string{m.Namespace}
		}
		if o.containers {
			for _, ct := range m.Containers {
				u := usageOf(ct.Usage)
				u.cols = append(append([]string{}, pre...), m.Name, ct.Name, cpuText(u.cpu), memText(u.memory))
				rows = append(rows, u)
			}
			continue
		}
		var sum usage
		for _, ct := range m.Containers {
			u := usageOf(ct.Usage)
			sum.cpu += u.cpu
			sum.memory += u.memory
		}
		sum.cols = append(append([]string{}, pre...), m.Name, cpuText(sum.cpu), memText(sum.memory))
		rows = append(rows, sum)
	}
	if len(rows) == 0 {
		switch {
		case len(args) > 0:
			return fmt.Errorf("metrics not available yet for pod %s/%s: a new pod is measured within a few seconds", ns, args[0])
		case ns == "":
			return fmt.Errorf("no pods have metrics yet")
		}
		return fmt.Errorf("no pods have metrics in namespace %s yet", ns)
	}
	if o.sortBy == "" {
		sort.SliceStable(rows, func(i, j int) bool {
			for k := range rows[i].cols {
				if rows[i].cols[k] != rows[j].cols[k] {
					return rows[i].cols[k] < rows[j].cols[k]
				}
			}
			return false
		})
	}
	sortUsage(rows, o.sortBy)
	header := []string{"NAME", "CPU(cores)", "MEMORY(bytes)"}
	if o.containers {
		header = []string{"POD", "NAME", "CPU(cores)", "MEMORY(bytes)"}
	}
	if o.allNamespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	return printUsage(cmd, o, header, rows)
}

func printUsage(cmd *cobra.Command, o *topOptions, header []string, rows []usage) error {
	var lines [][]string
	if !o.noHeader {
		lines = append(lines, header)
	}
	for _, r := range rows {
		lines = append(lines, r.cols)
	}
	return printTable(cmd.OutOrStdout(), lines)
}
