package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// templateOf returns the pod template of a Deployment or DaemonSet.
func templateOf(o api.Object) *api.PodTemplateSpec {
	switch w := o.(type) {
	case *api.Deployment:
		return &w.Spec.Template
	case *api.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// carryRestarts keeps the restart stamp (kubectl's restartedAt, which
// rollout restart and restart: true set) of the stored workloads in the
// converted ones: without it, an up of an unchanged file would roll them
// out again.
func carryRestarts(ctx context.Context, c *client.Client, ns string, objs []api.Object) error {
	for _, o := range objs {
		t := templateOf(o)
		if t == nil {
			continue
		}
		live, err := c.Get(ctx, api.KindOf(o), ns, o.GetObjectMeta().Name)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("compose up: read %s: %w", o.GetObjectMeta().Name, err)
		}
		if at, ok := templateOf(live).Annotations[annotationRestartedAt]; ok {
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
		}
	}
	return nil
}

// restartDependents restarts the pods of the services that depend with
// restart: true on a service this up changed, as docker compose restarts
// them after it recreated the dependency. Their new pods wait again, gated,
// until their dependencies hold. A service that changed itself is rolled
// out anyway.
func restartDependents(ctx context.Context, c *client.Client, ns string, objs []api.Object, changed map[string]bool, now time.Time, out io.Writer) error {
	at := now.UTC().Format(time.RFC3339)
	for _, o := range objs {
		svc := compose.ServiceOf(o)
		if templateOf(o) == nil || changed[svc] {
			continue
		}
		var because string
		for _, dep := range compose.RestartsWith(o) {
			if changed[dep] {
				because = dep
				break
			}
		}
		if because == "" {
			continue
		}
		k := api.KindOf(o)
		_, _, err := c.Modify(ctx, k, ns, o.GetObjectMeta().Name, func(live api.Object) (bool, error) {
			t := templateOf(live)
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("compose up: restart %s after %s changed: %w", svc, because, err)
		}
		fmt.Fprintf(out, "%s/%s restarted (its dependency %s changed)\n", prefixForKind(k.Kind, k.APIVersion()), o.GetObjectMeta().Name, because)
	}
	return nil
}

func newComposeRestartCommand(e *env, o *composeOptions) *cobra.Command {
	var detach bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "restart [SERVICE...]",
		Short: "Restart the pods of the project's services, as rollout restart does",
		Long: `Restart every service of the project (or the named ones) as "shoal rollout
restart" does: the workload's pods are replaced along its update_config (a
one-shot service is not restarted; "up" runs a changed one again). Then follow
the services until they run again, as up does (-d: return at once).`,
		Example: `  shoal compose restart
  shoal compose -p shop restart web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			restarted, err := restartServices(ctx, c, ns, args, e.now(), cmd.OutOrStdout())
			if err != nil || detach || len(restarted) == 0 {
				return err
			}
			wctx := ctx
			if waitTimeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, waitTimeout)
				defer cancel()
			}
			return followServices(wctx, c, ns, restarted, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return once the restart is asked for")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 0, "give up following after this long (0: as long as it takes)")
	return cmd
}

// restartServices stamps the pod template of each named service's
// Deployment or DaemonSet (every one when none is named) and returns the
// services restarted.
func restartServices(ctx context.Context, c *client.Client, ns string, names []string, now time.Time, out io.Writer) (map[string]bool, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[compose.ServiceObjectName(n)] = true
	}
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns})
	at := now.UTC().Format(time.RFC3339)
	var todo []api.Object
	found := map[string]bool{}
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob} {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("compose restart: list %s: %w", k.Resource, err)
		}
		for _, obj := range objs {
			if svc := compose.ServiceOf(obj); len(want) == 0 || want[svc] {
				found[svc] = true
				todo = append(todo, obj)
			}
		}
	}
	for n := range want {
		if !found[n] {
			return nil, fmt.Errorf("compose restart: project %s has no service %q (see shoal compose ps)", ns, n)
		}
	}
	restarted := map[string]bool{}
	for _, obj := range todo {
		k, name, svc := api.KindOf(obj), obj.GetObjectMeta().Name, compose.ServiceOf(obj)
		if k == api.KindJob {
			fmt.Fprintf(out, "%s: a one-shot service; not restarted\n", compose.ServiceName(obj))
			continue
		}
		_, _, err := c.Modify(ctx, k, ns, name, func(live api.Object) (bool, error) {
			t := templateOf(live)
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
			return true, nil
		})
		if err != nil {
			return nil, fmt.Errorf("compose restart: %s: %w", svc, err)
		}
		restarted[svc] = true
		fmt.Fprintf(out, "%s/%s restarted\n", prefixForKind(k.Kind, k.APIVersion()), name)
	}
	return restarted, nil
}
