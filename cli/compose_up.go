package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

type composeUpOptions struct {
	detach        bool
	podSecurity   string
	strict        bool
	removeOrphans bool
	waitTimeout   time.Duration
	historyMax    int
	upBuildFlags
}

func newComposeUpCommand(e *env, o *composeOptions) *cobra.Command {
	uo := &composeUpOptions{}
	cmd := &cobra.Command{
		Use:   "up [-d] [SERVICE...]",
		Short: "Create or update the project's objects on the cluster and wait until its services run",
		Long: `Convert the project (as "shoal compose convert" does) and apply its objects to
the cluster in one step: objects that did not change are left as they are, so
only the services whose definition changed are rolled out again. Services that
are no longer in the file are removed (--remove-orphans=false keeps them). Named
SERVICEs are started with the services they depend on, and nothing else is
touched.

depends_on is held by the cluster, not by this command: the pods of a service
wait (Pending, SchedulingGated) until its dependencies are running, healthy or
completed, even after "up -d" and whenever a pod is replaced.

Without -d, up follows every service until it is running and ready (a one-shot
service: completed) and then returns; it does not show the services' logs
(use "shoal compose logs -f"). It fails when a one-shot service fails.`,
		Example: `  shoal compose up -d
  shoal compose -f compose.yaml -f prod.yaml up
  shoal compose up web          # web and what it depends on`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposeUp(cmd, e, o, uo, args)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&uo.detach, "detach", "d", false, "return once the objects are applied, without following the services")
	f.StringVar(&uo.podSecurity, "pod-security", "", "label the project's namespace with this Pod Security level (privileged allows bind mounts, added capabilities, host namespaces)")
	f.BoolVar(&uo.strict, "strict", false, "refuse a project with any warning")
	f.BoolVar(&uo.removeOrphans, "remove-orphans", true, "remove the objects of services no longer in the file")
	f.DurationVar(&uo.waitTimeout, "wait-timeout", 0, "without -d, give up following after this long, such as 5m (0: as long as it takes)")
	f.IntVar(&uo.historyMax, "history-max", defaultHistoryMax, "revisions of the project to keep in its history (0: every one)")
	uo.upBuildFlags.add(cmd)
	return cmd
}

func runComposeUp(cmd *cobra.Command, e *env, o *composeOptions, uo *composeUpOptions, args []string) error {
	if err := checkPodSecurity(cmd, uo.podSecurity); err != nil {
		return err
	}
	p, err := o.load(cmd)
	if err != nil {
		return err
	}
	res, err := convertProject(cmd, p, uo.podSecurity, uo.strict)
	if err != nil {
		return err
	}
	selected, err := compose.Selected(p.Project, args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	var objs []api.Object
	for _, obj := range res.Objects {
		if s := compose.ServiceOf(obj); s == "" || selected[s] {
			objs = append(objs, obj)
		}
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	if err := checkProjectNamespace(ctx, c, res.Namespace); err != nil {
		return err
	}
	if err := runUpBuilds(ctx, c, res.Namespace, p.Project, selected, uo.buildMode(), out); err != nil {
		return err
	}
	if err := pullMissingImages(ctx, c, p.Project, objs, out); err != nil {
		return err
	}
	if err := carryRestarts(ctx, c, res.Namespace, objs); err != nil {
		return err
	}
	body, err := compose.WriteYAML(objs)
	if err != nil {
		return err
	}
	applied, err := c.Apply(ctx, res.Namespace, body, false)
	if err != nil {
		return fmt.Errorf("compose up: %w", err)
	}
	byName := map[string]api.Object{}
	for _, o := range objs {
		byName[api.KindOf(o).Kind+"/"+o.GetObjectMeta().Name] = o
	}
	changed := map[string]bool{} // services whose workload this up created or changed
	for _, it := range applied.Items {
		fmt.Fprintf(out, "%s/%s %s\n", prefixForKind(it.Kind, it.APIVersion), it.Name, it.Action)
		switch it.Kind {
		case "Deployment", "DaemonSet", "Job":
			if o := byName[it.Kind+"/"+it.Name]; o != nil && it.Action != client.ApplyUnchanged {
				changed[compose.ServiceOf(o)] = true
			}
		}
		if it.Kind == "Job" && it.Action == client.ApplyConfigured {
			if err := rerunJob(ctx, c, res.Namespace, it.Name, objs); err != nil {
				return err
			}
			fmt.Fprintf(out, "job.batch/%s started again (its definition changed)\n", it.Name)
		}
	}
	if err := restartDependents(ctx, c, res.Namespace, objs, changed, e.now(), out); err != nil {
		return err
	}
	if uo.removeOrphans && len(args) == 0 {
		if err := removeOrphans(ctx, c, res.Namespace, objs, compose.Disabled(p.Project), out); err != nil {
			return err
		}
	}
	rev, err := recordUp(cmd, c, p, res.Namespace, objs, applied, len(args) > 0, uo.removeOrphans, uo.historyMax, e.now())
	if err != nil {
		return err
	}
	if uo.detach {
		return nil
	}
	wctx := ctx
	if uo.waitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, uo.waitTimeout)
		defer cancel()
	}
	err = followServices(wctx, c, res.Namespace, selected, out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errServiceFailed):
		markRevisionFailed(ctx, c, res.Namespace, rev)
		return fmt.Errorf("compose up: %w", err)
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("compose up: timed out after %s; the services go on starting (see shoal compose ps)", uo.waitTimeout)
	}
	return err
}

func checkPodSecurity(cmd *cobra.Command, level string) error {
	switch level {
	case "", "privileged", "baseline", "restricted":
		return nil
	}
	return usageError(cmd, "--pod-security %q: use privileged, baseline or restricted", level)
}

// convertProject converts a loaded project, printing its warnings.
func convertProject(cmd *cobra.Command, p *composeProject, podSecurity string, strict bool) (*compose.Result, error) {
	res, err := compose.Convert(p.Project, compose.Options{PodSecurity: podSecurity})
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
		}
	}
	if err != nil {
		return nil, err
	}
	if strict && len(res.Warnings) > 0 {
		return nil, errors.New("compose: refused under --strict: the project has warnings (above)")
	}
	return res, nil
}

// checkProjectNamespace refuses to take over a namespace that an earlier
// up did not make.
func checkProjectNamespace(ctx context.Context, c *client.Client, ns string) error {
	obj, err := c.Get(ctx, api.KindNamespace, "", ns)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if obj.GetObjectMeta().Labels[compose.LabelProject] != ns {
		return fmt.Errorf("compose: namespace %q exists and is not compose project %q's (no label %s=%s); give another project name with -p",
			ns, ns, compose.LabelProject, ns)
	}
	return nil
}

// rerunJob deletes a one-shot service's Job whose definition changed and
// creates it again, so that it runs with the new one (a Job's pod
// template is not changed in place).
func rerunJob(ctx context.Context, c *client.Client, ns, name string, objs []api.Object) error {
	var want api.Object
	for _, o := range objs {
		if j, ok := o.(*api.Job); ok && j.Name == name {
			want = j
		}
	}
	if want == nil {
		return nil
	}
	if _, err := c.Delete(ctx, api.KindJob, ns, name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("compose up: run job %s again: %w", name, err)
	}
	m := want.GetObjectMeta()
	m.ResourceVersion, m.UID = "", ""
	if _, err := c.Create(ctx, api.KindJob, ns, want); err != nil {
		return fmt.Errorf("compose up: run job %s again: %w", name, err)
	}
	return nil
}

// projectKinds are the kinds compose objects are of, in the order down
// removes them (workloads before what they use).
var projectKinds = []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob, api.KindService, api.KindConfigMap, api.KindSecret}

// removeOrphans deletes the project's objects that the file no longer
// makes: those of removed services, and configs and secrets no service
// uses any more. Services left out by a profile keep theirs.
func removeOrphans(ctx context.Context, c *client.Client, ns string, want []api.Object, disabled map[string]bool, out io.Writer) error {
	keep := map[string]bool{}
	for _, o := range want {
		keep[api.KindOf(o).Kind+"/"+o.GetObjectMeta().Name] = true
	}
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns})
	for _, k := range projectKinds {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return fmt.Errorf("compose up: list %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			m := o.GetObjectMeta()
			if keep[k.Kind+"/"+m.Name] || disabled[compose.ServiceOf(o)] {
				continue
			}
			if _, err := c.Delete(ctx, k, ns, m.Name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
				return fmt.Errorf("compose up: remove orphan %s/%s: %w", k.Resource, m.Name, err)
			}
			fmt.Fprintf(out, "%s/%s deleted (no longer in the project)\n", prefixForKind(k.Kind, k.APIVersion()), m.Name)
		}
	}
	return nil
}

// followServices shows each selected service's state until every one is
// running and ready, or completed; a failed one-shot service ends it with
// an error.
func followServices(ctx context.Context, c *client.Client, ns string, selected map[string]bool, out io.Writer) error {
	names := make([]string, 0, len(selected))
	for n := range selected {
		names = append(names, n)
	}
	sort.Strings(names)
	b := newBoard(out, names)
	stop := b.animate(ctx)
	defer func() { stop(); b.finish() }()
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		states, err := projectStates(ctx, c, ns)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		done := 0
		var failed []string
		for _, n := range names {
			st, ok := states[n]
			if !ok {
				st = serviceState{state: "not created yet"}
			}
			b.set(n, st.line(), st.done)
			if st.done {
				done++
			}
			if st.failed {
				failed = append(failed, fmt.Sprintf("%s (%s)", n, st.state))
			}
		}
		if len(failed) > 0 {
			return fmt.Errorf("service %v %w", failed, errServiceFailed)
		}
		if done == len(names) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
