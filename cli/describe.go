package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

type describeOptions struct {
	selector      string
	allNamespaces bool
}

func newDescribeCommand(e *env) *cobra.Command {
	o := &describeOptions{}
	cmd := &cobra.Command{
		Use:   "describe KIND [NAME...] | KIND/NAME...",
		Short: "Show the details of objects, with their events",
		Long: `Show one or many objects in a form meant for people: their state, the
objects they own, and the events recorded about them, oldest first. Without a
name, every object of the kind (matching -l) is described.`,
		Example: `  shoal describe pod web-5d8f7
  shoal describe deploy/web
  shoal describe nodes`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDescribe(cmd, e, o, args)
		},
	}
	cmd.Flags().StringVarP(&o.selector, "selector", "l", "", "label selector")
	cmd.Flags().BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "describe across all namespaces")
	return cmd
}

func runDescribe(cmd *cobra.Command, e *env, o *describeOptions, args []string) error {
	targets, err := parseTargets(args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ns := e.namespace
	if o.allNamespaces {
		ns = ""
	}
	results, errs, err := fetch(cmd.Context(), c, targets, ns, sel)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	first := true
	for _, r := range results {
		for _, obj := range r.objs {
			if !first {
				fmt.Fprintln(out)
			}
			first = false
			if err := describeOne(cmd.Context(), c, out, e.now(), r.kind, obj); err != nil {
				return err
			}
		}
	}
	if first && len(errs) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), noResources(results, ns))
	}
	return errs.orNil()
}

// describer writes "Label:\tvalue" lines, indented by level, through one
// tabwriter so that neighbouring lines align as in kubectl describe.
type describer struct {
	ctx context.Context
	c   *client.Client
	w   *tabwriter.Writer
	now time.Time
}

func (d *describer) line(level int, label string, value any) {
	fmt.Fprintf(d.w, "%s%s:\t%v\n", strings.Repeat("  ", level), label, value)
}

func (d *describer) text(level int, format string, args ...any) {
	fmt.Fprintf(d.w, strings.Repeat("  ", level)+format+"\n", args...)
}

// labels writes a map one k=v per line, or <none>.
func (d *describer) labels(level int, label string, m map[string]string) {
	if len(m) == 0 {
		d.line(level, label, "<none>")
		return
	}
	keys := sortedKeys(m)
	for i, k := range keys {
		if i == 0 {
			d.line(level, label, k+"="+m[k])
			continue
		}
		fmt.Fprintf(d.w, "%s\t%s=%s\n", strings.Repeat("  ", level), k, m[k])
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// timestamp is kubectl's describe time format, in local time.
func timestamp(t api.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.Local().Format(time.RFC1123Z)
}

// meta writes the lines every object starts with.
func (d *describer) meta(m *api.ObjectMeta, namespaced bool) {
	d.line(0, "Name", m.Name)
	if namespaced {
		d.line(0, "Namespace", m.Namespace)
	}
	d.labels(0, "Labels", m.Labels)
	d.labels(0, "Annotations", m.Annotations)
	d.line(0, "CreationTimestamp", timestamp(m.CreationTimestamp))
	if ref := m.ControllerRef(); ref != nil {
		d.line(0, "Controlled By", ref.Kind+"/"+ref.Name)
	}
	if m.DeletionTimestamp != nil {
		d.line(0, "Terminating Since", timestamp(*m.DeletionTimestamp))
	}
}

func describeOne(ctx context.Context, c *client.Client, out io.Writer, now time.Time, k *api.Kind, obj api.Object) error {
	d := &describer{ctx: ctx, c: c, w: tabwriter.NewWriter(out, 0, 8, 2, ' ', 0), now: now}
	var err error
	switch o := obj.(type) {
	case *api.Pod:
		d.pod(o)
	case *api.Deployment:
		err = d.deployment(o)
	case *api.ReplicaSet:
		err = d.replicaSet(o)
	case *api.DaemonSet:
		err = d.daemonSet(o)
	case *api.Job:
		d.job(o)
	case *api.Node:
		err = d.node(o)
	case *api.ConfigMap:
		d.configMap(o)
	case *api.Secret:
		d.secret(o)
	case *api.PersistentVolumeClaim:
		err = d.claim(o)
	case *api.Service:
		err = d.service(o)
	case *api.Endpoints:
		d.endpoints(o)
	case *api.Ingress:
		d.ingress(o)
	case *api.Namespace:
		d.meta(&o.ObjectMeta, false)
		d.line(0, "Status", printers.OrNone(o.Status.Phase))
	default:
		err = d.generic(k, obj)
	}
	if err == nil && k != api.KindEvent {
		err = d.events(k, obj)
	}
	if ferr := d.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// events writes the events about obj, oldest first, as kubectl does.
func (d *describer) events(k *api.Kind, obj api.Object) error {
	m := obj.GetObjectMeta()
	evs, _, err := client.ListAs[api.Event](d.ctx, d.c, m.Namespace, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing the events of %s/%s: %w", k.Resource, m.Name, err)
	}
	var mine []*api.Event
	for _, e := range evs {
		if about(e, k, m) {
			mine = append(mine, e)
		}
	}
	if len(mine) == 0 {
		d.line(0, "Events", "<none>")
		return nil
	}
	sort.SliceStable(mine, func(i, j int) bool { return printers.EventTime(mine[i]).Before(printers.EventTime(mine[j]).Time) })
	d.text(0, "Events:")
	d.text(1, "Type\tReason\tAge\tFrom\tMessage")
	d.text(1, "----\t------\t----\t----\t-------")
	for _, e := range mine {
		d.text(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, eventAge(e, d.now), eventSource(e), oneLine(e.Message))
	}
	return nil
}

// about matches an event to an object by uid, or by kind and name when the
// event carries no uid.
func about(e *api.Event, k *api.Kind, m *api.ObjectMeta) bool {
	ref := e.InvolvedObject
	if ref.UID != "" && m.UID != "" {
		return ref.UID == m.UID
	}
	return ref.Kind == k.Kind && ref.Name == m.Name && (!k.Namespaced || ref.Namespace == "" || ref.Namespace == m.Namespace)
}

// eventAge is "5m", or "2m (x4 over 10m)" for a repeated event.
func eventAge(e *api.Event, now time.Time) string {
	last := printers.Age(printers.EventTime(e), now)
	if e.Count > 1 && !e.FirstTimestamp.IsZero() {
		return fmt.Sprintf("%s (x%d over %s)", last, e.Count, printers.Age(e.FirstTimestamp, now))
	}
	return last
}

func eventSource(e *api.Event) string {
	src := e.Source.Component
	if src == "" {
		src = e.ReportingComponent
	}
	if e.Source.Host != "" {
		src += ", " + e.Source.Host
	}
	return src
}

func (d *describer) configMap(cm *api.ConfigMap) {
	d.meta(&cm.ObjectMeta, true)
	d.text(0, "")
	d.text(0, "Data")
	d.text(0, "====")
	for _, k := range sortedKeys(cm.Data) {
		d.text(0, "%s:", k)
		d.text(0, "----")
		d.text(0, "%s", strings.ReplaceAll(cm.Data[k], "\t", "    "))
		d.text(0, "")
	}
	d.text(0, "")
	d.text(0, "BinaryData")
	d.text(0, "====")
	for _, k := range sortedKeys(cm.BinaryData) {
		d.text(0, "%s: %d bytes", k, len(cm.BinaryData[k]))
	}
	d.text(0, "")
}

// secret shows sizes only: a value on a screen is a value leaked.
func (d *describer) secret(s *api.Secret) {
	d.meta(&s.ObjectMeta, true)
	d.text(0, "")
	d.line(0, "Type", printers.OrNone(s.Type))
	d.text(0, "")
	d.text(0, "Data")
	d.text(0, "====")
	for _, k := range sortedKeys(s.Data) {
		d.text(0, "%s:\t%d bytes", k, len(s.Data[k]))
	}
}
