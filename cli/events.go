package cli

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
)

type eventsOptions struct {
	watch, allNamespaces, noHeaders bool
	forObject, output               string
	types                           []string
}

func newEventsCommand(e *env) *cobra.Command {
	o := &eventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [--for KIND/NAME] [-w]",
		Short: "List the events of a namespace, oldest first, and follow new ones with -w",
		Example: `  shoal events
  shoal events --for pod/web-1
  shoal events -A --types Warning
  shoal events -w`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runEvents(cmd, e, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.watch, "watch", "w", false, "after the list, print new events as they come")
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the events of every namespace")
	f.BoolVar(&o.noHeaders, "no-headers", false, "leave out the header line")
	f.StringVar(&o.forObject, "for", "", "only the events about this object, as KIND/NAME")
	f.StringSliceVar(&o.types, "types", nil, "only events of these types: Normal, Warning")
	f.StringVarP(&o.output, "output", "o", "", "json or yaml instead of a table")
	return cmd
}

func runEvents(cmd *cobra.Command, e *env, o *eventsOptions) error {
	if o.output != "" && o.output != outputJSON && o.output != outputYAML {
		return usageError(cmd, "--output %q is not supported: use json or yaml, or leave it out for a table", o.output)
	}
	if o.watch && o.output != "" {
		return usageError(cmd, "--watch prints a table: leave out --output")
	}
	types := map[string]bool{}
	for _, t := range o.types {
		switch {
		case strings.EqualFold(t, api.EventNormal):
			types[api.EventNormal] = true
		case strings.EqualFold(t, api.EventWarning):
			types[api.EventWarning] = true
		default:
			return usageError(cmd, "--types %q is not an event type: use Normal or Warning", t)
		}
	}
	opts := api.ListOptions{}
	if o.forObject != "" {
		ref, err := singleRef([]string{o.forObject})
		if err != nil {
			return usageError(cmd, "--for: %v", err)
		}
		fs, err := api.ParseFieldSelector(api.KindEvent, "involvedObject.kind="+ref.kind.Kind+",involvedObject.name="+ref.name)
		if err != nil {
			return err
		}
		opts.FieldSelector = fs
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ns := e.namespace
	if o.allNamespaces {
		ns = ""
	}
	ctx := cmd.Context()
	objs, rv, err := c.List(ctx, api.KindEvent, ns, opts)
	if err != nil {
		return err
	}
	var events []*api.Event
	for _, obj := range objs {
		if ev := obj.(*api.Event); len(types) == 0 || types[ev.Type] {
			events = append(events, ev)
		}
	}
	sort.SliceStable(events, func(i, j int) bool {
		return printers.EventTime(events[i]).Before(printers.EventTime(events[j]).Time)
	})
	out := cmd.OutOrStdout()
	if o.output != "" {
		items := make([]api.Object, len(events))
		for i, ev := range events {
			items[i] = ev
		}
		return printDocument(out, o.output, newList("EventList", "v1", rv, items))
	}
	if len(events) == 0 && !o.watch {
		if ns == "" {
			fmt.Fprintln(cmd.ErrOrStderr(), "No events found.")
		} else {
			fmt.Fprintf(cmd.ErrOrStderr(), "No events found in %s namespace.\n", ns)
		}
		return nil
	}
	lines := [][]string{}
	if !o.noHeaders {
		h := []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}
		if o.allNamespaces {
			h = append([]string{"NAMESPACE"}, h...)
		}
		lines = append(lines, h)
	}
	for _, ev := range events {
		lines = append(lines, eventRow(ev, o.allNamespaces, e))
	}
	if err := printTable(out, lines); err != nil {
		return err
	}
	if !o.watch {
		return nil
	}
	return watchEvents(cmd, e, c, ns, rv, opts, types, o.allNamespaces, out)
}

// watchEvents prints each event added or changed after rv, one row at a
// time, until interrupted. A stream the agent ends resumes from where it was.
func watchEvents(cmd *cobra.Command, e *env, c *client.Client, ns, rv string, opts api.ListOptions, types map[string]bool, allNS bool, out io.Writer) error {
	ctx := cmd.Context()
	for {
		if rv == "" {
			// The position expired: start from now, without printing
			// again what was printed before.
			_, now, err := c.List(ctx, api.KindEvent, ns, opts)
			if err != nil {
				return err
			}
			rv = now
		}
		opts.ResourceVersion = rv
		ch, err := c.Watch(ctx, api.KindEvent, ns, opts)
		if err != nil {
			return err
		}
		for ev := range ch {
			if err := client.EventError(ev); err != nil {
				if api.IsGone(err) {
					rv = "" // too old
				}
				break
			}
			if ev.Type == api.Bookmark {
				rv = ev.Object.GetObjectMeta().ResourceVersion
				continue
			}
			rv = ev.Object.GetObjectMeta().ResourceVersion
			event := ev.Object.(*api.Event)
			if ev.Type == api.Deleted || (len(types) > 0 && !types[event.Type]) {
				continue
			}
			if err := printTable(out, [][]string{eventRow(event, allNS, e)}); err != nil {
				return err
			}
		}
		// Resume after a pause, so that an agent refusing watches is not
		// asked again in a tight loop.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func eventRow(ev *api.Event, allNS bool, e *env) []string {
	ref := ev.InvolvedObject
	object := strings.ToLower(ref.Kind) + "/" + ref.Name
	row := []string{eventAge(ev, e.now()), ev.Type, ev.Reason, object, oneLine(ev.Message)}
	if allNS {
		row = append([]string{ev.Namespace}, row...)
	}
	return row
}
