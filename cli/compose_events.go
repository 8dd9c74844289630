package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/printers"
	"github.com/shoal-dev/shoal/compose"
)

func newComposeEventsCommand(e *env, o *composeOptions) *cobra.Command {
	var asJSON, follow bool
	cmd := &cobra.Command{
		Use:   "events [--json] [SERVICE...]",
		Short: "Show the project's events, and follow new ones",
		Long: `Print the Events of the project's namespace (what the scheduler, the
controllers and the nodes recorded about its pods and workloads), oldest first,
then follow new ones until interrupted (--follow=false: stop after the recorded
ones). SERVICEs keep the events of those services' objects (a workload named
after the service and its pods and ReplicaSets, named SERVICE-...). --json
prints one JSON object a line, as docker compose events --json does.`,
		Example: `  shoal compose events
  shoal compose -p shop events --json web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			return composeEvents(cmd.Context(), c, ns, args, asJSON, follow, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object a line")
	cmd.Flags().BoolVar(&follow, "follow", true, "follow new events until interrupted")
	return cmd
}

// composeEvent is an event as events --json prints it.
type composeEvent struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Service string    `json:"service,omitempty"`
	Kind    string    `json:"kind"`
	Object  string    `json:"object"`
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
	Source  string    `json:"source,omitempty"`
	Count   int32     `json:"count,omitempty"`
}

func composeEvents(ctx context.Context, c *client.Client, ns string, services []string, asJSON, follow bool, out io.Writer) error {
	if exists, err := composeNamespaceExists(ctx, c, ns); err != nil {
		return err
	} else if !exists {
		return fmt.Errorf("compose: project %s is not on the cluster", ns)
	}
	want := make([]string, len(services))
	for i, s := range services {
		want[i] = compose.ServiceObjectName(s)
	}
	objs, rv, err := c.List(ctx, api.KindEvent, ns, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("compose events: %w", err)
	}
	evs := make([]*api.Event, 0, len(objs))
	for _, o := range objs {
		evs = append(evs, o.(*api.Event))
	}
	sort.SliceStable(evs, func(i, j int) bool { return printers.EventTime(evs[i]).Before(printers.EventTime(evs[j]).Time) })
	for _, ev := range evs {
		printComposeEvent(out, ev, want, asJSON)
	}
	if !follow {
		return nil
	}
	ch, err := c.Watch(ctx, api.KindEvent, ns, api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("compose events: %w", err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case we, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("compose events: the agent ended the stream")
			}
			if ev, isEvent := we.Object.(*api.Event); isEvent && (we.Type == api.Added || we.Type == api.Modified) {
				printComposeEvent(out, ev, want, asJSON)
			}
		}
	}
}

// eventService names the service an event's object belongs to: the
// workload named after it, or a pod or ReplicaSet named SERVICE-...;
// "" when the object is no service's.
func eventService(ev *api.Event, services []string) (string, bool) {
	name := ev.InvolvedObject.Name
	best := ""
	for _, s := range services {
		if (name == s || strings.HasPrefix(name, s+"-")) && len(s) > len(best) {
			best = s
		}
	}
	return best, best != ""
}

func printComposeEvent(out io.Writer, ev *api.Event, want []string, asJSON bool) {
	svc := ""
	if len(want) > 0 {
		var ok bool
		if svc, ok = eventService(ev, want); !ok {
			return
		}
	}
	source := ev.Source.Component
	if ev.Source.Host != "" {
		source += " on " + ev.Source.Host
	}
	ce := composeEvent{Time: printers.EventTime(ev).UTC(), Type: ev.Type, Service: svc, Kind: ev.InvolvedObject.Kind,
		Object: ev.InvolvedObject.Name, Reason: ev.Reason, Message: ev.Message, Source: source, Count: ev.Count}
	if asJSON {
		data, _ := json.Marshal(ce)
		fmt.Fprintf(out, "%s\n", data)
		return
	}
	fmt.Fprintf(out, "%s %s %s/%s %s: %s (%s)\n", ce.Time.Format(time.RFC3339), ce.Type, strings.ToLower(ce.Kind), ce.Object, ce.Reason, ce.Message, source)
}
