package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

type composeRollbackOptions struct {
	to          int
	detach      bool
	waitTimeout time.Duration
	historyMax  int
}

func newComposeRollbackCommand(e *env, o *composeOptions) *cobra.Command {
	ro := &composeRollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [--to N]",
		Short: "Return every service of the project to an earlier revision in one step",
		Long: `Return the whole project to a revision of its history (shoal compose history):
by default the one before the newest. One request replaces the project's state,
all or nothing: every object of that revision is applied and the objects of
services it did not have are deleted in the same step. A service that is the
same in both is left as it is (nothing restarts), one that differs is rolled
out with its update_config, a one-shot service that differs runs again. The
rollback is recorded as a new revision, "Rollback to N", as Helm records one.

Without -d, rollback follows every service of the revision until it is running
and ready (a one-shot service: completed), with the same view as up. With -p
NAME and no -f, no compose file is needed: the revision holds everything.`,
		Example: `  shoal compose rollback
  shoal compose -p shop rollback --to 2 -d`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if ro.to < 0 {
				return usageError(cmd, "--to %d: give a revision number from shoal compose history", ro.to)
			}
			return runComposeRollback(cmd, e, o, ro)
		},
	}
	f := cmd.Flags()
	f.IntVar(&ro.to, "to", 0, "the revision to return to (default: the one before the newest)")
	f.BoolVarP(&ro.detach, "detach", "d", false, "return once the objects are applied, without following the services")
	f.DurationVar(&ro.waitTimeout, "wait-timeout", 0, "without -d, give up following after this long, such as 5m (0: as long as it takes)")
	f.IntVar(&ro.historyMax, "history-max", defaultHistoryMax, "revisions of the project to keep in its history (0: every one)")
	return cmd
}

func runComposeRollback(cmd *cobra.Command, e *env, o *composeOptions, ro *composeRollbackOptions) error {
	ns, c, err := o.projectClient(cmd, e)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	exists, err := composeNamespaceExists(ctx, c, ns)
	if err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("compose rollback: project %s is not on the cluster", ns)
	}
	revs, err := readRevisions(ctx, c, ns, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	_, latestObjs, err := latestRevision(revs)
	if err != nil {
		return err
	}
	to := ro.to
	if to == 0 {
		if len(revs) < 2 {
			return fmt.Errorf("compose rollback: project %s has %d revision(s): nothing before the newest to return to", ns, len(revs))
		}
		to = revs[len(revs)-2].Number
	}
	target, err := compose.FindRevision(revs, to)
	if err != nil {
		return fmt.Errorf("compose rollback: project %s: %w", ns, err)
	}
	objs, err := target.Decode()
	if err != nil {
		return err
	}
	// The restart stamps of the running workloads are kept, so that a
	// service the same in both revisions is not rolled out again.
	if err := carryRestarts(ctx, c, ns, objs); err != nil {
		return err
	}
	body, err := compose.WriteYAML(objs)
	if err != nil {
		return err
	}
	// One request replaces the project's state: the revision's objects
	// applied and, in the same atomic step, the project's objects it did
	// not have deleted.
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns})
	applied, err := c.ApplyPrune(ctx, ns, body, false, sel, projectKinds)
	if err != nil {
		return fmt.Errorf("compose rollback to %d: %w (nothing was changed)", to, err)
	}
	byKey := map[string]api.Object{}
	for _, o := range objs {
		byKey[compose.ObjectKey(o)] = o
	}
	changed := map[string]bool{}
	selected := map[string]bool{}
	for _, o := range objs {
		switch o.(type) {
		case *api.Deployment, *api.DaemonSet, *api.Job:
			selected[compose.ServiceOf(o)] = true
		}
	}
	for _, it := range applied.Items {
		if it.Action == client.ApplyPruned {
			fmt.Fprintf(out, "%s/%s deleted (not in revision %d)\n", prefixForKind(it.Kind, it.APIVersion), it.Name, to)
			continue
		}
		fmt.Fprintf(out, "%s/%s %s\n", prefixForKind(it.Kind, it.APIVersion), it.Name, it.Action)
		o := byKey[it.Kind+"/"+it.Name]
		if o == nil || it.Action == client.ApplyUnchanged {
			continue
		}
		switch it.Kind {
		case "Deployment", "DaemonSet", "Job":
			changed[compose.ServiceOf(o)] = true
		}
		if it.Kind == "Job" && it.Action == client.ApplyConfigured {
			if err := rerunJob(ctx, c, ns, it.Name, objs); err != nil {
				return err
			}
			fmt.Fprintf(out, "job.batch/%s started again (its definition changed)\n", it.Name)
		}
	}
	if err := restartDependents(ctx, c, ns, objs, changed, e.now(), out); err != nil {
		return err
	}
	rev, err := recordRevision(ctx, c, historyRecord{ns: ns, project: target.Project, description: fmt.Sprintf("Rollback to %d", to),
		objs: objs, model: []byte(target.Model), prev: latestObjs, max: ro.historyMax, now: e.now()}, out)
	if err != nil {
		return err
	}
	if ro.detach {
		return nil
	}
	wctx := ctx
	if ro.waitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, ro.waitTimeout)
		defer cancel()
	}
	err = followServices(wctx, c, ns, selected, out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errServiceFailed):
		markRevisionFailed(ctx, c, ns, rev)
		return fmt.Errorf("compose rollback to %d: %w", to, err)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("compose rollback: timed out after %s; the services go on starting (see shoal compose ps)", ro.waitTimeout)
	}
	return err
}
