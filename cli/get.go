package cli

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

type getOptions struct {
	output        string
	selector      string
	allNamespaces bool
	watch         bool
	showLabels    bool
	managedFields bool
}

func newGetCommand(e *env) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...] | KIND/NAME... | all",
		Short: "Display one or many objects",
		Long: `Display one or many objects as a table, or as JSON, YAML or names.

Kinds are named as in kubectl: pods (pod, po), deployments (deploy), replicasets (rs),
daemonsets (ds), jobs, services (svc), endpoints (ep), ingresses (ing),
namespaces (ns), nodes (no), configmaps (cm), secrets, events (ev). "all" shows
pods, services, daemonsets, deployments, replicasets, statefulsets and jobs, in kubectl's order.`,
		Example: `  shoal get pods
  shoal get deploy web -o yaml
  shoal get pods -l app=web -o wide
  shoal get all -A
  shoal get pods -w`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, json, yaml or name")
	f.StringVarP(&o.selector, "selector", "l", "", "label selector, such as app=web,tier!=db")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across all namespaces")
	f.BoolVarP(&o.watch, "watch", "w", false, "after the list, print a row for every change")
	f.BoolVar(&o.showLabels, "show-labels", false, "add a LABELS column")
	f.BoolVar(&o.managedFields, "show-managed-fields", false, "keep metadata.managedFields in JSON and YAML output")
	return cmd
}

// kindResult is what get found for one target.
type kindResult struct {
	kind  *api.Kind
	named bool // objects were asked for by name
	objs  []api.Object
	rv    string
}

func runGet(cmd *cobra.Command, e *env, o *getOptions, args []string) error {
	if err := checkOutput(o.output); err != nil {
		return usageError(cmd, "%v", err)
	}
	targets, err := parseTargets(args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if o.allNamespaces && hasNames(targets) {
		return usageError(cmd, "a resource cannot be retrieved by name across all namespaces")
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ns := e.namespace
	if o.allNamespaces {
		ns = ""
	}
	if o.watch {
		if len(targets) != 1 {
			return usageError(cmd, "you may only watch one kind at a time")
		}
		return watchGet(cmd, e, c, o, targets[0], ns, sel)
	}
	results, errs, err := fetch(cmd.Context(), c, targets, ns, sel)
	if err != nil {
		return err
	}
	var loads map[string]*printers.NodeLoad
	// Only the node table shows what pods take of each node; the documents
	// are the objects as stored, so they cost no extra request.
	if (o.output == outputTable || o.output == outputWide) && needsNodeLoads(results) {
		if loads, err = listNodeLoads(cmd.Context(), c); err != nil {
			return err
		}
	}
	if err := printResults(cmd, e, o, results, ns, loads); err != nil {
		return err
	}
	return errs.orNil()
}

func hasNames(ts []target) bool {
	for _, t := range ts {
		if len(t.names) > 0 {
			return true
		}
	}
	return false
}

// fetch reads every target. Objects missing by name are errors that do not
// stop the others, as in kubectl; a list that fails stops everything.
func fetch(ctx context.Context, c *client.Client, targets []target, ns string, sel api.Selector) ([]kindResult, errorList, error) {
	var results []kindResult
	var errs errorList
	for _, t := range targets {
		r := kindResult{kind: t.kind, named: len(t.names) > 0}
		if !r.named {
			objs, rv, err := c.List(ctx, t.kind, ns, api.ListOptions{LabelSelector: sel})
			if err != nil {
				return nil, nil, err
			}
			r.objs, r.rv = objs, rv
			sortForDisplay(t.kind, r.objs)
		}
		for _, name := range t.names {
			obj, err := c.Get(ctx, t.kind, ns, name)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			r.objs = append(r.objs, obj)
		}
		results = append(results, r)
	}
	return results, errs, nil
}

// sortForDisplay sorts events by time, everything else by namespace and name.
func sortForDisplay(k *api.Kind, objs []api.Object) {
	sortObjects(objs)
	if k != api.KindEvent {
		return
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, aok := objs[i].(*api.Event)
		b, bok := objs[j].(*api.Event)
		return aok && bok && printers.EventTime(a).Before(printers.EventTime(b).Time)
	})
}

func printResults(cmd *cobra.Command, e *env, o *getOptions, results []kindResult, ns string, loads map[string]*printers.NodeLoad) error {
	out := cmd.OutOrStdout()
	total := 0
	for _, r := range results {
		total += len(r.objs)
	}
	switch o.output {
	case outputJSON, outputYAML:
		if total == 0 && anyNamed(results) {
			return nil // only errors to show
		}
		if !o.managedFields {
			// As kubectl: server-side apply's bookkeeping is noise to a reader.
			for _, r := range results {
				for _, obj := range r.objs {
					obj.GetObjectMeta().ManagedFields = nil
				}
			}
		}
		return printDocument(out, o.output, document(results))
	}
	if total == 0 {
		if !anyNamed(results) {
			fmt.Fprintln(cmd.ErrOrStderr(), noResources(results, ns))
		}
		return nil
	}
	if o.output == outputName {
		for _, r := range results {
			if err := printNames(out, r.kind, r.objs); err != nil {
				return err
			}
		}
		return nil
	}
	return printTables(out, e, o, results, ns, loads)
}

func anyNamed(results []kindResult) bool {
	for _, r := range results {
		if r.named {
			return true
		}
	}
	return false
}

// document is what -o json|yaml prints: the object when one was asked for by
// name, the kind's list for a plain list, a generic List otherwise.
func document(results []kindResult) any {
	if len(results) == 1 {
		r := results[0]
		if r.named && len(r.objs) == 1 {
			return r.objs[0]
		}
		if !r.named {
			return newList(r.kind.ListKind(), r.kind.APIVersion(), r.rv, r.objs)
		}
	}
	var items []api.Object
	for _, r := range results {
		items = append(items, r.objs...)
	}
	return newList("List", "v1", "", items)
}

func noResources(results []kindResult, ns string) string {
	namespaced := false
	for _, r := range results {
		namespaced = namespaced || r.kind.Namespaced
	}
	if ns == "" || !namespaced {
		return "No resources found"
	}
	return fmt.Sprintf("No resources found in %s namespace.", ns)
}

func printTables(out io.Writer, e *env, o *getOptions, results []kindResult, ns string, loads map[string]*printers.NodeLoad) error {
	opts := tableOptions{wide: o.output == outputWide, withNamespace: ns == "", withKind: len(results) > 1,
		showLabels: o.showLabels, loads: loads}
	first := true
	for _, r := range results {
		if len(r.objs) == 0 {
			continue
		}
		if !first {
			fmt.Fprintln(out)
		}
		first = false
		if err := newTablePrinter(out, r.kind, opts, e.now()).print(r.objs); err != nil {
			return err
		}
	}
	return nil
}
