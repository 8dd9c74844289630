package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// errServiceFailed marks the end of following a change because one of
// its services failed: the revision is recorded as failed.
var errServiceFailed = errors.New("failed")

// defaultHistoryMax is how many revisions a project keeps, as Helm's
// upgrade --history-max.
const defaultHistoryMax = 10

func newComposeHistoryCommand(e *env, o *composeOptions) *cobra.Command {
	var objects bool
	var output string
	cmd := &cobra.Command{
		Use:   "history [REVISION]",
		Short: "List the project's revisions, or show one",
		Long: `List the revisions of the whole project, oldest first: every "up" that changed
the project and every "rollback" recorded one, with the services it changed.
The newest is deployed (or failed, when up saw a one-shot service of it fail);
the ones before are superseded. A project keeps the last --history-max
revisions (default 10).

With REVISION, print that revision's resolved compose model (--objects: the
objects it applied, as "shoal apply -f" reads them). With -p NAME and no -f, no
compose file is needed.`,
		Example: `  shoal compose history
  shoal compose -p shop history 2
  shoal compose -p shop history 2 --objects`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch output {
			case "", "table", "json":
			default:
				return usageError(cmd, "-o %q: use table or json", output)
			}
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			revs, err := readRevisions(cmd.Context(), c, ns, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return usageError(cmd, "REVISION %q: give a revision number from shoal compose history", args[0])
				}
				r, err := compose.FindRevision(revs, n)
				if err != nil {
					return fmt.Errorf("compose history: project %s: %w", ns, err)
				}
				return printRevision(cmd.OutOrStdout(), r, objects)
			}
			if len(revs) == 0 {
				return fmt.Errorf("compose history: project %s has no recorded revision (is it on the cluster? shoal compose up records one)", ns)
			}
			if output == "json" {
				return printHistoryJSON(cmd.OutOrStdout(), revs)
			}
			lines := [][]string{{"REVISION", "UPDATED", "STATUS", "SERVICES CHANGED", "DESCRIPTION"}}
			for _, r := range revs {
				lines = append(lines, []string{strconv.Itoa(r.Number), r.Updated.Local().Format(time.ANSIC), r.Status,
					strings.Join(r.Changed, ", "), r.Description})
			}
			return printTable(cmd.OutOrStdout(), lines)
		},
	}
	cmd.Flags().BoolVar(&objects, "objects", false, "with REVISION: print the objects it applied instead of its compose model")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func printRevision(out io.Writer, r *compose.Revision, objects bool) error {
	if !objects {
		if r.Model == "" {
			return fmt.Errorf("compose history: revision %d has no compose model (%s); give --objects", r.Number, r.Description)
		}
		_, err := io.WriteString(out, r.Model)
		return err
	}
	objs, err := r.Decode()
	if err != nil {
		return err
	}
	y, err := compose.WriteYAML(objs)
	if err != nil {
		return err
	}
	_, err = out.Write(y)
	return err
}

func printHistoryJSON(out io.Writer, revs []*compose.Revision) error {
	type row struct {
		Revision    int       `json:"revision"`
		Updated     time.Time `json:"updated"`
		Status      string    `json:"status"`
		Changed     []string  `json:"servicesChanged"`
		Description string    `json:"description"`
	}
	rows := make([]row, len(revs))
	for i, r := range revs {
		rows[i] = row{r.Number, r.Updated, r.Status, r.Changed, r.Description}
	}
	b, err := json.MarshalIndent(rows, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// readRevisions lists the project's revisions, oldest first, each with the
// status history shows. A damaged revision is left out with a warning:
// it must not hide the others.
func readRevisions(ctx context.Context, c *client.Client, ns string, warn io.Writer) ([]*compose.Revision, error) {
	objs, _, err := c.List(ctx, api.KindSecret, ns, api.ListOptions{LabelSelector: compose.RevisionSelector()})
	if err != nil {
		return nil, fmt.Errorf("compose: read the history of project %s: %w", ns, err)
	}
	var revs []*compose.Revision
	for _, o := range objs {
		r, err := compose.RevisionFromSecret(o.(*api.Secret))
		if err != nil {
			fmt.Fprintf(warn, "warning: %v; left out of the history\n", err)
			continue
		}
		revs = append(revs, r)
	}
	compose.SortRevisions(revs)
	return revs, nil
}

// historyRecord is a revision about to be recorded.
type historyRecord struct {
	ns, project string
	description string
	objs        []api.Object // the project's state after the change
	model       []byte
	prev        []api.Object // the state of the newest revision, if any
	max         int          // revisions kept; 0 keeps every one
	now         time.Time
}

// recordRevision stores the next revision and prunes the oldest beyond
// the history's bound. Two changes recorded at once on one agent cannot
// take the same number: the create of the second fails and it takes the
// next one.
func recordRevision(ctx context.Context, c *client.Client, h historyRecord, out io.Writer) (*compose.Revision, error) {
	for attempt := 0; ; attempt++ {
		revs, err := readRevisions(ctx, c, h.ns, io.Discard)
		if err != nil {
			return nil, err
		}
		n := 1
		if len(revs) > 0 {
			n = revs[len(revs)-1].Number + 1
		}
		r, err := compose.NewRevision(n, h.project, h.now, h.description, h.objs, h.model)
		if err != nil {
			return nil, err
		}
		r.Changed = compose.ServicesChanged(h.prev, h.objs)
		s, err := r.Secret(h.ns)
		if err != nil {
			return nil, err
		}
		_, err = c.Create(ctx, api.KindSecret, h.ns, s)
		if api.IsAlreadyExists(err) && attempt < 5 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("compose: record revision %d of project %s (the change itself is applied): %w", n, h.ns, err)
		}
		fmt.Fprintf(out, "revision %d recorded: %s\n", n, h.description)
		revs = append(revs, r)
		return r, pruneHistory(ctx, c, h.ns, revs, h.max)
	}
}

// pruneHistory deletes the oldest revisions beyond max.
func pruneHistory(ctx context.Context, c *client.Client, ns string, revs []*compose.Revision, max int) error {
	if max <= 0 || len(revs) <= max {
		return nil
	}
	for _, r := range revs[:len(revs)-max] {
		if _, err := c.Delete(ctx, api.KindSecret, ns, compose.RevisionName(ns, r.Number), api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("compose: prune revision %d of project %s: %w", r.Number, ns, err)
		}
	}
	return nil
}

// latestRevision returns the newest revision and its objects (nil, nil
// when the project has none).
func latestRevision(revs []*compose.Revision) (*compose.Revision, []api.Object, error) {
	if len(revs) == 0 {
		return nil, nil, nil
	}
	r := revs[len(revs)-1]
	objs, err := r.Decode()
	if err != nil {
		return nil, nil, err
	}
	return r, objs, nil
}

// recordUp records the revision an up made, when it changed the project:
// an up whose apply left every object as it was, and whose state is the
// newest revision's, records nothing. The state is what the project holds
// afterwards: the objects applied, and those of the newest revision that
// up neither replaced nor removed (services of `up SERVICE...` not named,
// services of disabled profiles, everything with --remove-orphans=false).
func recordUp(cmd *cobra.Command, c *client.Client, p *composeProject, ns string, objs []api.Object,
	applied *client.ApplyResult, partial, removeOrphans bool, max int, now time.Time,
) (*compose.Revision, error) {
	ctx := cmd.Context()
	revs, err := readRevisions(ctx, c, ns, cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	prev, prevObjs, err := latestRevision(revs)
	if err != nil {
		return nil, err
	}
	disabled := compose.Disabled(p.Project)
	state := compose.MergeRevision(prevObjs, objs, func(o api.Object) bool {
		return partial || !removeOrphans || disabled[compose.ServiceOf(o)]
	})
	changed := false
	for _, it := range applied.Items {
		if it.Action != client.ApplyUnchanged {
			changed = true
		}
	}
	if prev != nil && !changed && compose.SameObjects(prevObjs, state) {
		return nil, nil
	}
	desc := "Upgrade complete"
	if prev == nil {
		desc = "Install complete"
	}
	if partial {
		var names []string
		for _, o := range objs {
			if s := compose.ServiceOf(o); s != "" && !slices.Contains(names, s) && api.KindOf(o) != api.KindService {
				names = append(names, s)
			}
		}
		desc += " (up " + strings.Join(names, " ") + ")"
	}
	model, err := compose.Config(p.Project, "yaml")
	if err != nil {
		return nil, err
	}
	return recordRevision(ctx, c, historyRecord{ns: ns, project: p.Name, description: desc, objs: state, model: model,
		prev: prevObjs, max: max, now: now}, cmd.OutOrStdout())
}

// markRevisionFailed labels the newest revision failed, after up or
// rollback saw one of its services fail.
func markRevisionFailed(ctx context.Context, c *client.Client, ns string, r *compose.Revision) {
	if r == nil {
		return
	}
	_, _, _ = c.Modify(ctx, api.KindSecret, ns, compose.RevisionName(ns, r.Number), func(o api.Object) (bool, error) {
		m := o.GetObjectMeta()
		if m.Labels == nil {
			m.Labels = map[string]string{}
		}
		m.Labels[compose.LabelRevisionStatus] = compose.RevisionFailed
		return true, nil
	})
}
