package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func newComposeDownCommand(e *env, o *composeOptions) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Remove every object of the project and wait until none of its containers is left",
		Long: `Remove the project from the cluster: its workloads first, then its pods (each
stopped within its grace period, stop_grace_period), waiting until no container
of the project runs on any host, then its Services, configs, secrets and its
namespace. With -p NAME and no -f, no compose file is needed. A namespace that
compose did not make is refused.`,
		Example: `  shoal compose down
  shoal compose -p shop down`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, _, err := o.projectNamespace(cmd)
			if err != nil {
				return err
			}
			c, err := e.client(cmd)
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
			err = composeDown(wctx, c, ns, cmd.OutOrStdout())
			if err != nil && ctx.Err() == nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("compose down: timed out after %s; pods of project %s are still stopping (see shoal get pods -n %s)", timeout, ns, ns)
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&timeout, "wait-timeout", 5*time.Minute, "give up waiting for the containers to stop after this long (0: as long as it takes)")
	return cmd
}

func composeDown(ctx context.Context, c *client.Client, ns string, out io.Writer) error {
	exists, err := composeNamespaceExists(ctx, c, ns)
	if err != nil {
		return err
	}
	if !exists {
		fmt.Fprintf(out, "project %s is not on the cluster\n", ns)
		return nil
	}
	// Workloads go first, so that nothing replaces the pods deleted next.
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob, api.KindReplicaSet} {
		if err := deleteAll(ctx, c, k, ns, out); err != nil {
			return err
		}
	}
	// A pod deleted with its grace period stays until its node has stopped
	// its containers: once none is listed, no container of it runs.
	line := newLiveLine(out)
	stop := line.animate(ctx)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		pods, _, err := c.List(ctx, api.KindPod, ns, api.ListOptions{})
		if err != nil {
			stop()
			return fmt.Errorf("compose down: list pods: %w", err)
		}
		if len(pods) == 0 {
			break
		}
		for _, p := range pods {
			if p.GetObjectMeta().DeletionTimestamp == nil {
				if _, err := c.Delete(ctx, api.KindPod, ns, p.GetObjectMeta().Name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
					stop()
					return fmt.Errorf("compose down: delete pod %s: %w", p.GetObjectMeta().Name, err)
				}
			}
		}
		line.update(fmt.Sprintf("waiting for %d pods of project %s to stop", len(pods), ns))
		select {
		case <-ctx.Done():
			stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	stop()
	line.finish("every container of project " + ns + " stopped")
	if _, err := c.Delete(ctx, api.KindNamespace, "", ns, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("compose down: delete namespace %s: %w", ns, err)
	}
	for {
		_, err := c.Get(ctx, api.KindNamespace, "", ns)
		if api.IsNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("compose down: namespace %s: %w", ns, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	fmt.Fprintf(out, "namespace/%s deleted\n", ns)
	return nil
}

func deleteAll(ctx context.Context, c *client.Client, k *api.Kind, ns string, out io.Writer) error {
	objs, _, err := c.List(ctx, k, ns, api.ListOptions{})
	if err != nil {
		return fmt.Errorf("compose down: list %s: %w", k.Resource, err)
	}
	for _, o := range objs {
		name := o.GetObjectMeta().Name
		if _, err := c.Delete(ctx, k, ns, name, api.DeleteOptions{}); err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("compose down: delete %s/%s: %w", k.Resource, name, err)
		}
		fmt.Fprintf(out, "%s/%s deleted\n", prefixForKind(k.Kind, k.APIVersion()), name)
	}
	return nil
}
