package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// watchGet is `get -w`: the current objects, then one line (or document)
// per change until interrupted or the server ends the stream.
func watchGet(cmd *cobra.Command, e *env, c *client.Client, o *getOptions, t target, ns string, sel api.Selector) error {
	ctx := cmd.Context()
	objs, rv, err := c.List(ctx, t.kind, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return err
	}
	objs, err = onlyNamed(t, objs)
	if err != nil {
		return err
	}
	sortForDisplay(t.kind, objs)
	out := cmd.OutOrStdout()
	tp := newTablePrinter(out, t.kind, tableOptions{wide: o.output == outputWide, withNamespace: ns == "",
		showLabels: o.showLabels}, e.now())
	// Node rows sum the pods bound to each node; the sums are read again
	// for every row, since pods come and go between changes of a node.
	nodeTable := t.kind == api.KindNode && (o.output == outputTable || o.output == outputWide)
	if nodeTable && len(objs) > 0 {
		if tp.opts.loads, err = listNodeLoads(ctx, c); err != nil {
			return err
		}
	}
	if err := printWatched(out, tp, o.output, t.kind, objs...); err != nil {
		return err
	}
	ch, err := c.Watch(ctx, t.kind, ns, api.ListOptions{LabelSelector: sel, ResourceVersion: rv})
	if err != nil {
		return err
	}
	for ev := range ch {
		if err := client.EventError(ev); err != nil {
			return err
		}
		if ev.Type == api.Bookmark || !wanted(t, ev.Object) {
			continue
		}
		tp.now = e.now()
		if nodeTable {
			if tp.opts.loads, err = listNodeLoads(ctx, c); err != nil {
				return err
			}
		}
		if err := printWatched(out, tp, o.output, t.kind, ev.Object); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func printWatched(out io.Writer, tp *tablePrinter, format string, k *api.Kind, objs ...api.Object) error {
	switch format {
	case outputJSON, outputYAML:
		for _, o := range objs {
			if format == outputYAML {
				if _, err := io.WriteString(out, "---\n"); err != nil {
					return err
				}
			}
			if err := printDocument(out, format, o); err != nil {
				return err
			}
		}
		return nil
	case outputName:
		return printNames(out, k, objs)
	}
	if len(objs) == 0 {
		return nil
	}
	if tp.widths == nil {
		return tp.print(objs)
	}
	for _, o := range objs {
		if err := tp.printRow(o); err != nil {
			return err
		}
	}
	return nil
}

// onlyNamed keeps the objects the target names (all when it names none);
// a name not found is a NotFound error.
func onlyNamed(t target, objs []api.Object) ([]api.Object, error) {
	if len(t.names) == 0 {
		return objs, nil
	}
	byName := map[string]api.Object{}
	for _, o := range objs {
		byName[o.GetObjectMeta().Name] = o
	}
	var out []api.Object
	var errs errorList
	for _, n := range t.names {
		if o, ok := byName[n]; ok {
			out = append(out, o)
		} else {
			errs = append(errs, api.NewNotFound(t.kind, n))
		}
	}
	return out, errs.orNil()
}

func wanted(t target, o api.Object) bool {
	if len(t.names) == 0 {
		return true
	}
	for _, n := range t.names {
		if o.GetObjectMeta().Name == n {
			return true
		}
	}
	return false
}
