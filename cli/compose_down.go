package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

func newComposeDownCommand(e *env, o *composeOptions) *cobra.Command {
	var timeout time.Duration
	var volumes bool
	cmd := &cobra.Command{
		Use:   "down [-v]",
		Short: "Remove every object of the project and wait until none of its containers is left",
		Long: `Remove the project from the cluster: its workloads first, then its pods (each
stopped within its grace period, stop_grace_period), waiting until no container
of the project runs on any host, then its Services, configs, secrets and its
namespace. Each service's progress is shown as up shows it. With -v, the
project's named volumes (the engine volumes shoal-pvc-<project>-<volume> on the
hosts that ran its pods) are removed too: every ready host removes its own and
answers, and down waits for every answer. With -p NAME and no -f, no compose
file is needed. A namespace that compose did not make is refused.`,
		Example: `  shoal compose down
  shoal compose -p shop down -v`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			wctx := ctx
			if timeout > 0 {
				var cancel context.CancelFunc
				wctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			err = composeDown(wctx, c, ns, downOptions{volumes: volumes, now: e.now(), out: cmd.OutOrStdout(), errOut: cmd.ErrOrStderr()})
			if err != nil && ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("compose down: timed out after %s; the project %s is still being removed (see shoal get pods -n %s)", timeout, ns, ns)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "wait-timeout", 5*time.Minute, "give up waiting for the containers to stop after this long (0: as long as it takes)")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the project's named volumes on every host")
	return cmd
}

type downOptions struct {
	volumes     bool
	now         time.Time
	out, errOut io.Writer
}

// volumesRow is the board's line for the volumes of down -v.
const volumesRow = "(volumes)"

func composeDown(ctx context.Context, c *client.Client, ns string, o downOptions) error {
	exists, err := composeNamespaceExists(ctx, c, ns)
	if err != nil {
		return err
	}
	if !exists && !o.volumes {
		fmt.Fprintf(o.out, "project %s is not on the cluster\n", ns)
		return nil
	}
	if !exists {
		// An earlier down kept the volumes: the request needs the
		// namespace to ride on, made again for the time of the removal.
		fmt.Fprintf(o.out, "project %s is not on the cluster; removing its volumes\n", ns)
		n := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns, Labels: map[string]string{compose.LabelProject: ns}}}
		if _, err := c.Create(ctx, api.KindNamespace, "", n); err != nil {
			return fmt.Errorf("compose down: namespace %s for the volume removal: %w", ns, err)
		}
	}
	services, err := downServices(ctx, c, ns)
	if err != nil {
		return err
	}
	rows := append([]string(nil), services...)
	if o.volumes {
		rows = append(rows, volumesRow)
	}
	b := newBoard(o.out, rows)
	stop := b.animate(ctx)
	defer func() { stop(); b.finish() }()
	for _, s := range services {
		b.set(s, "stopping", false)
	}
	// Workloads go first, so that nothing replaces the pods deleted next.
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob, api.KindReplicaSet} {
		if err := deleteAll(ctx, c, k, ns); err != nil {
			return err
		}
	}
	if err := stopPods(ctx, c, ns, services, b); err != nil {
		return err
	}
	if o.volumes {
		if err := removeVolumes(ctx, c, ns, o, b); err != nil {
			return err
		}
	}
	if _, err := c.Delete(ctx, api.KindNamespace, "", ns, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("compose down: delete namespace %s: %w", ns, err)
	}
	if err := pollEvery(ctx, func() (bool, error) {
		_, err := c.Get(ctx, api.KindNamespace, "", ns)
		if api.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}); err != nil {
		return fmt.Errorf("compose down: namespace %s: %w", ns, err)
	}
	stop()
	b.finish()
	fmt.Fprintf(o.out, "namespace/%s deleted\n", ns)
	return nil
}

// downServices names the services of the project's workloads and pods.
func downServices(ctx context.Context, c *client.Client, ns string) ([]string, error) {
	set := map[string]bool{}
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob, api.KindPod} {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("compose down: list %s: %w", k.Resource, err)
		}
		for _, o := range objs {
			set[downRow(o)] = true
		}
	}
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func downRow(o api.Object) string {
	if s := compose.ServiceName(o); s != "" {
		return s
	}
	return o.GetObjectMeta().Name
}

// stopPods deletes the project's pods and waits until none is left. A pod
// deleted with its grace period stays until its node has stopped its
// containers: once none is listed, no container of it runs.
func stopPods(ctx context.Context, c *client.Client, ns string, services []string, b *board) error {
	return pollEvery(ctx, func() (bool, error) {
		pods, _, err := c.List(ctx, api.KindPod, ns, api.ListOptions{})
		if err != nil {
			return false, fmt.Errorf("compose down: list pods: %w", err)
		}
		left := map[string]int{}
		for _, p := range pods {
			left[downRow(p)]++
			if p.GetObjectMeta().DeletionTimestamp == nil {
				if _, err := c.Delete(ctx, api.KindPod, ns, p.GetObjectMeta().Name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
					return false, fmt.Errorf("compose down: delete pod %s: %w", p.GetObjectMeta().Name, err)
				}
			}
		}
		for _, s := range services {
			switch n := left[s]; n {
			case 0:
				b.set(s, "removed", true)
			case 1:
				b.set(s, "stopping, 1 pod left", false)
			default:
				b.set(s, fmt.Sprintf("stopping, %d pods left", n), false)
			}
		}
		return len(pods) == 0, nil
	})
}

// removeVolumes asks every node to remove its engine volumes of the
// project (the namespace's annotation api.AnnotationRemoveVolumes) and
// waits for the answer of every ready node.
func removeVolumes(ctx context.Context, c *client.Client, ns string, o downOptions, b *board) error {
	req := o.now.UTC().Format(time.RFC3339Nano)
	_, _, err := c.Modify(ctx, api.KindNamespace, "", ns, func(obj api.Object) (bool, error) {
		m := obj.GetObjectMeta()
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[api.AnnotationRemoveVolumes] = req
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("compose down: ask the hosts to remove the volumes: %w", err)
	}
	nodes, _, err := c.List(ctx, api.KindNode, "", api.ListOptions{})
	if err != nil {
		return fmt.Errorf("compose down: list nodes: %w", err)
	}
	waitFor := map[string]bool{}
	for _, n := range nodes {
		node := n.(*api.Node)
		if api.FindCondition(node.Status.Conditions, api.NodeReady) != nil && api.FindCondition(node.Status.Conditions, api.NodeReady).Status == api.ConditionTrue {
			waitFor[node.Name] = true
			continue
		}
		fmt.Fprintf(o.errOut, "warning: node %s is not ready: its volumes of project %s (shoal-pvc-%s-*) stay; remove them with docker volume rm on that host\n", node.Name, ns, ns)
	}
	removed := []string{}
	answered := map[string]bool{}
	return pollEvery(ctx, func() (bool, error) {
		evs, _, err := c.List(ctx, api.KindEvent, ns, api.ListOptions{})
		if err != nil {
			return false, fmt.Errorf("compose down: list events: %w", err)
		}
		for _, obj := range evs {
			ev := obj.(*api.Event)
			if ev.Reason != api.EventReasonVolumesRemoved || ev.Annotations[api.AnnotationRemoveVolumes] != req || answered[ev.Source.Host] {
				continue
			}
			answered[ev.Source.Host] = true
			if _, vols, ok := strings.Cut(ev.Message, "removed the volumes "); ok {
				removed = append(removed, strings.Split(vols, ", ")...)
			}
		}
		var waiting []string
		for n := range waitFor {
			if !answered[n] {
				waiting = append(waiting, n)
			}
		}
		sort.Strings(waiting)
		sort.Strings(removed)
		if len(waiting) > 0 {
			b.set(volumesRow, fmt.Sprintf("removing on %s", strings.Join(waiting, ", ")), false)
			return false, nil
		}
		if len(removed) == 0 {
			b.set(volumesRow, "none to remove", true)
		} else {
			b.set(volumesRow, "removed "+strings.Join(removed, ", "), true)
		}
		return true, nil
	})
}

// pollEvery calls done every half second until it holds.
func pollEvery(ctx context.Context, done func() (bool, error)) error {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func deleteAll(ctx context.Context, c *client.Client, k *api.Kind, ns string) error {
	objs, _, err := c.List(ctx, k, ns, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("compose down: list %s: %w", k.Resource, err)
	}
	for _, o := range objs {
		name := o.GetObjectMeta().Name
		if _, err := c.Delete(ctx, k, ns, name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("compose down: delete %s/%s: %w", k.Resource, name, err)
		}
	}
	return nil
}
