package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// metaField is what label and annotate change: the labels or the
// annotations of objects. Both verbs behave the same otherwise, as in
// kubectl.
type metaField struct {
	verb, past string // "label", "labeled"
	plural     string // "labels"
	get        func(*api.ObjectMeta) map[string]string
	set        func(*api.ObjectMeta, map[string]string)
	checkValue func(string) []string
}

var labelField = metaField{verb: "label", past: "labeled", plural: "labels",
	get:        func(m *api.ObjectMeta) map[string]string { return m.Labels },
	set:        func(m *api.ObjectMeta, v map[string]string) { m.Labels = v },
	checkValue: api.IsValidLabelValue,
}

var annotationField = metaField{verb: "annotate", past: "annotated", plural: "annotations",
	get: func(m *api.ObjectMeta) map[string]string { return m.Annotations },
	set: func(m *api.ObjectMeta, v map[string]string) { m.Annotations = v },
	// An annotation holds any text.
	checkValue: func(string) []string { return nil },
}

type metaOptions struct {
	overwrite, all, list bool
	selector             string
	resourceVersion      string
}

func newLabelCommand(e *env) *cobra.Command {
	return newMetaCommand(e, labelField, `  shoal label pods web-1 tier=frontend
  shoal label deploy/web tier=backend --overwrite
  shoal label pods -l app=web canary-
  shoal label pod web-1 --list`, "Add, change or remove the labels of objects")
}

func newAnnotateCommand(e *env) *cobra.Command {
	return newMetaCommand(e, annotationField, `  shoal annotate pods web-1 description='the first web pod'
  shoal annotate deploy/web owner=team-a --overwrite
  shoal annotate pods --all description-`, "Add, change or remove the annotations of objects")
}

func newMetaCommand(e *env, f metaField, example, short string) *cobra.Command {
	o := &metaOptions{}
	cmd := &cobra.Command{
		Use:               f.verb + " KIND NAME|KIND/NAME... KEY=VALUE... KEY-...",
		Short:             short,
		Example:           example,
		ValidArgsFunction: completeKindsAndNames(e),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runMeta(cmd, e, f, o, args)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&o.overwrite, "overwrite", false, "allow changing the value of a key that is already set")
	fl.BoolVar(&o.all, "all", false, "change every object of the kind in the namespace")
	fl.BoolVar(&o.list, "list", false, "print the "+f.plural+" of each object instead of changing them")
	fl.StringVarP(&o.selector, "selector", "l", "", "change the objects these labels select (k=v,k2!=v2,k3 in (a,b))")
	fl.StringVar(&o.resourceVersion, "resource-version", "", "change only when the object is still at this resourceVersion (one object only)")
	return cmd
}

// metaChange is what the KEY=VALUE and KEY- arguments ask for.
type metaChange struct {
	set    map[string]string
	remove []string
}

func (c metaChange) empty() bool { return len(c.set) == 0 && len(c.remove) == 0 }

// splitMetaArgs separates the object arguments from the changes: a change
// has an "=" or ends in "-", as kubectl reads them.
func splitMetaArgs(f metaField, args []string) (objects []string, ch metaChange, err error) {
	ch.set = map[string]string{}
	for _, a := range args {
		switch {
		case strings.Contains(a, "="):
			k, v, _ := strings.Cut(a, "=")
			if errs := api.IsQualifiedName(k); len(errs) > 0 {
				return nil, ch, fmt.Errorf("invalid %s key %q: %s", f.verb, k, strings.Join(errs, "; "))
			}
			if errs := f.checkValue(v); len(errs) > 0 {
				return nil, ch, fmt.Errorf("invalid value %q of %s key %q: %s", v, f.verb, k, strings.Join(errs, "; "))
			}
			if _, dup := ch.set[k]; dup {
				return nil, ch, fmt.Errorf("%s key %q is given twice: give each key once", f.verb, k)
			}
			ch.set[k] = v
		case strings.HasSuffix(a, "-") && len(objects) > 0:
			k := strings.TrimSuffix(a, "-")
			if errs := api.IsQualifiedName(k); len(errs) > 0 {
				return nil, ch, fmt.Errorf("invalid %s key %q to remove: %s", f.verb, k, strings.Join(errs, "; "))
			}
			ch.remove = append(ch.remove, k)
		default:
			if !ch.empty() {
				return nil, ch, fmt.Errorf("%q comes after the %s changes: name the objects first, then KEY=VALUE or KEY-", a, f.plural)
			}
			objects = append(objects, a)
		}
	}
	for _, k := range ch.remove {
		if _, both := ch.set[k]; both {
			return nil, ch, fmt.Errorf("can not both modify and remove the %s key %q in the same command", f.verb, k)
		}
	}
	return objects, ch, nil
}

func runMeta(cmd *cobra.Command, e *env, f metaField, o *metaOptions, args []string) error {
	objArgs, ch, err := splitMetaArgs(f, args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	if o.list && !ch.empty() {
		return usageError(cmd, "--list only prints the %s: leave out the KEY=VALUE and KEY- arguments", f.plural)
	}
	if !o.list && ch.empty() {
		return usageError(cmd, "at least one %s update is required: add KEY=VALUE or KEY-", f.verb)
	}
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return usageError(cmd, "--selector: %v", err)
	}
	bulk := o.all || o.selector != ""
	if o.all && o.selector != "" {
		return usageError(cmd, "--all and --selector both choose the objects: give one of them")
	}
	targets, err := parseTargets(objArgs)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	for _, t := range targets {
		if bulk && len(t.names) > 0 {
			return usageError(cmd, "name objects or choose them with --all or --selector, not both")
		}
		if !bulk && len(t.names) == 0 {
			return usageError(cmd, "name the %s to %s (such as %s/NAME), or choose them with --selector or --all", t.kind.Resource, f.verb, resourcePrefix(t.kind))
		}
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	refs, err := resolveRefs(cmd.Context(), c, targets, e.namespace, sel, bulk)
	if err != nil {
		return err
	}
	if o.resourceVersion != "" && len(refs) != 1 {
		return usageError(cmd, "--resource-version applies to one object: name exactly one")
	}
	if o.list {
		return listMeta(cmd, c, f, refs, e.namespace)
	}
	// Check every object first, so that a refusal changes nothing.
	for _, r := range refs {
		obj, err := c.Get(cmd.Context(), r.kind, e.namespace, r.name)
		if err != nil {
			return err
		}
		if err := checkMetaChange(f, o, ch, r, obj); err != nil {
			return err
		}
	}
	var errs errorList
	for _, r := range refs {
		_, changed, err := c.Modify(cmd.Context(), r.kind, e.namespace, r.name, func(obj api.Object) (bool, error) {
			if err := checkMetaChange(f, o, ch, r, obj); err != nil {
				return false, err
			}
			return applyMetaChange(f, ch, obj.GetObjectMeta()), nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if changed {
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", r, f.past)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "%s not %s\n", r, f.past)
		}
	}
	return errs.orNil()
}

// resolveRefs turns targets into single objects: the named ones, or every
// object of each kind that sel matches.
func resolveRefs(ctx context.Context, c *client.Client, targets []target, ns string, sel api.Selector, bulk bool) ([]objectRef, error) {
	var refs []objectRef
	for _, t := range targets {
		if !bulk {
			for _, n := range t.names {
				refs = append(refs, objectRef{kind: t.kind, name: n})
			}
			continue
		}
		objs, _, err := c.List(ctx, t.kind, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, err
		}
		for _, obj := range objs {
			refs = append(refs, objectRef{kind: t.kind, name: obj.GetObjectMeta().Name})
		}
	}
	return refs, nil
}

func checkMetaChange(f metaField, o *metaOptions, ch metaChange, r objectRef, obj api.Object) error {
	m := obj.GetObjectMeta()
	if o.resourceVersion != "" && m.ResourceVersion != o.resourceVersion {
		return fmt.Errorf("%s is at resourceVersion %s, not %s: read it again and retry", r, m.ResourceVersion, o.resourceVersion)
	}
	if o.overwrite {
		return nil
	}
	cur := f.get(m)
	for _, k := range sortedKeys(ch.set) {
		if old, ok := cur[k]; ok && old != ch.set[k] {
			return fmt.Errorf("%s: %q already has a value (%s), and --overwrite is false: add --overwrite to change it", r, k, old)
		}
	}
	return nil
}

// applyMetaChange changes m and reports whether anything differs.
func applyMetaChange(f metaField, ch metaChange, m *api.ObjectMeta) bool {
	cur := f.get(m)
	next := make(map[string]string, len(cur)+len(ch.set))
	for k, v := range cur {
		next[k] = v
	}
	changed := false
	for k, v := range ch.set {
		if old, ok := next[k]; !ok || old != v {
			changed = true
		}
		next[k] = v
	}
	for _, k := range ch.remove {
		if _, ok := next[k]; ok {
			changed = true
			delete(next, k)
		}
	}
	if changed {
		f.set(m, next)
	}
	return changed
}

func listMeta(cmd *cobra.Command, c *client.Client, f metaField, refs []objectRef, ns string) error {
	out := cmd.OutOrStdout()
	for i, r := range refs {
		obj, err := c.Get(cmd.Context(), r.kind, ns, r.name)
		if err != nil {
			return err
		}
		if len(refs) > 1 {
			if i > 0 {
				fmt.Fprintln(out)
			}
			fmt.Fprintf(out, "Listing %s for %s:\n", f.plural, r)
		}
		m := f.get(obj.GetObjectMeta())
		for _, k := range sortedKeys(m) {
			fmt.Fprintf(out, "%s=%s\n", k, m[k])
		}
	}
	return nil
}
