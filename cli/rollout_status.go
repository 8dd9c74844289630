package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// reasonProgressDeadlineExceeded is the reason of a Deployment's Progressing
// condition once its rollout made no progress for progressDeadlineSeconds.
const reasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"

type rolloutStatusOptions struct {
	timeout time.Duration
	watch   bool
}

func newRolloutStatusCommand(e *env) *cobra.Command {
	o := &rolloutStatusOptions{}
	cmd := &cobra.Command{
		Use:   "status deploy/NAME | ds/NAME | sts/NAME",
		Short: "Follow a rollout until it is done",
		Long: `Watch the rollout of a Deployment, DaemonSet or StatefulSet and print its
progress until every pod runs the current template and is available (for a
StatefulSet with a partition: every pod at or above the partition).

The exit status is 0 once the rollout is done, and 1 when the Deployment
exceeded its progress deadline, when --timeout passes, or on any other error.
In a terminal the progress is one line redrawn in place; otherwise each new
state is printed once, as a plain line.`,
		Example: `  shoal rollout status deploy/web
  shoal rollout status deployment web --timeout 5m
  shoal rollout status ds/log-agent --watch=false`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutStatus(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long, such as 5m (0: wait as long as it takes)")
	f.BoolVarP(&o.watch, "watch", "w", true, "follow the rollout until it ends; --watch=false prints where it stands once")
	return cmd
}

func runRolloutStatus(cmd *cobra.Command, e *env, o *rolloutStatusOptions, args []string) error {
	refs, err := workloadRefs(cmd, args, api.KindDeployment, api.KindDaemonSet, api.KindStatefulSet)
	if err != nil {
		return err
	}
	if len(refs) != 1 {
		return usageError(cmd, "rollout status follows one object, such as deploy/web")
	}
	ref := refs[0]
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	wctx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	line := newLiveLine(cmd.OutOrStdout())
	stop := line.animate(wctx)
	final := ""
	err = followObject(wctx, c, ref, e.namespace, o.watch, func(obj api.Object) (bool, error) {
		msg, done, err := rolloutState(obj)
		if err != nil {
			return false, err
		}
		if done {
			final = msg
			return true, nil
		}
		line.update(msg)
		return false, nil
	})
	stop()
	line.finish(final)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err() // interrupted: Execute exits 130
	case errors.Is(wctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out after %s waiting for %s rollout to finish", o.timeout, rolloutSubject(ref))
	}
	return err
}

// rolloutSubject is how kubectl's messages name the object: deployment
// "web", daemon set "agent".
func rolloutSubject(ref objectRef) string {
	if ref.kind == api.KindDaemonSet {
		return fmt.Sprintf("daemon set %q", ref.name)
	}
	return fmt.Sprintf("%s %q", ref.kind.Singular, ref.name)
}

// rolloutState says where the rollout of a workload stands, in kubectl's
// words, whether it is done, and an error when it can no longer finish.
func rolloutState(obj api.Object) (string, bool, error) {
	switch w := obj.(type) {
	case *api.Deployment:
		return deploymentRolloutState(w)
	case *api.DaemonSet:
		return daemonSetRolloutState(w)
	case *api.StatefulSet:
		return statefulSetRolloutState(w)
	}
	return "", false, fmt.Errorf("rollout status: %T has no rollout", obj)
}

// deploymentRolloutState: done once the controller has seen the current
// spec and every replica is updated and available, with no old ones left.
func deploymentRolloutState(d *api.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "Waiting for deployment spec update to be observed...", false, nil
	}
	if c := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing); c != nil &&
		c.Status == api.ConditionFalse && c.Reason == reasonProgressDeadlineExceeded {
		return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
	}
	st, want := d.Status, replicas(d.Spec.Replicas)
	prefix := fmt.Sprintf("Waiting for deployment %q rollout to finish: ", d.Name)
	switch {
	case st.UpdatedReplicas < want:
		return prefix + fmt.Sprintf("%d out of %d new replicas have been updated...", st.UpdatedReplicas, want), false, nil
	case st.Replicas > st.UpdatedReplicas:
		return prefix + fmt.Sprintf("%d old replicas are pending termination...", st.Replicas-st.UpdatedReplicas), false, nil
	case st.AvailableReplicas < st.UpdatedReplicas:
		return prefix + fmt.Sprintf("%d of %d updated replicas are available...", st.AvailableReplicas, st.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// daemonSetRolloutState: done once every node that should run the pod runs
// the current template, available. OnDelete has no rollout to follow.
func daemonSetRolloutState(ds *api.DaemonSet) (string, bool, error) {
	if t := ds.Spec.UpdateStrategy.Type; t != "" && t != api.RollingUpdateStrategy {
		return "", false, fmt.Errorf("rollout status is only available for the %s strategy; daemon set %q uses %s",
			api.RollingUpdateStrategy, ds.Name, t)
	}
	if ds.Generation > ds.Status.ObservedGeneration {
		return "Waiting for daemon set spec update to be observed...", false, nil
	}
	st := ds.Status
	prefix := fmt.Sprintf("Waiting for daemon set %q rollout to finish: ", ds.Name)
	switch {
	case st.UpdatedNumberScheduled < st.DesiredNumberScheduled:
		return prefix + fmt.Sprintf("%d out of %d new pods have been updated...", st.UpdatedNumberScheduled, st.DesiredNumberScheduled), false, nil
	case st.NumberAvailable < st.DesiredNumberScheduled:
		return prefix + fmt.Sprintf("%d of %d updated pods are available...", st.NumberAvailable, st.DesiredNumberScheduled), false, nil
	}
	return fmt.Sprintf("daemon set %q successfully rolled out", ds.Name), true, nil
}

// statefulSetRolloutState follows kubectl's StatefulSetStatusViewer: done
// once every pod is ready and the pods from the partition up are updated.
// OnDelete has no rollout to follow.
func statefulSetRolloutState(s *api.StatefulSet) (string, bool, error) {
	if s.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy {
		return "", false, fmt.Errorf("rollout status is only available for the %s strategy; statefulset %q uses %s",
			api.RollingUpdateStrategy, s.Name, s.Spec.UpdateStrategy.Type)
	}
	if s.Status.ObservedGeneration == 0 || s.Generation > s.Status.ObservedGeneration {
		return "Waiting for statefulset spec update to be observed...", false, nil
	}
	want := replicas(s.Spec.Replicas)
	st := s.Status
	if st.ReadyReplicas < want {
		return fmt.Sprintf("Waiting for %d pods to be ready...", want-st.ReadyReplicas), false, nil
	}
	if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		if ru.Partition != nil && st.UpdatedReplicas < want-*ru.Partition {
			return fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...",
				st.UpdatedReplicas, want-*ru.Partition), false, nil
		}
		return fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", st.UpdatedReplicas), true, nil
	}
	if st.UpdateRevision != st.CurrentRevision {
		return fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", st.UpdatedReplicas, st.UpdateRevision), false, nil
	}
	return fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", st.CurrentReplicas, st.CurrentRevision), true, nil
}

// followObject calls check with the named object now and, with watch, after
// every change, until check reports done or fails, the object is deleted or
// ctx ends. A watch that the server ends or expires resumes from a new list,
// so that a long rollout outlives an agent that closes idle streams.
func followObject(ctx context.Context, c *client.Client, ref objectRef, ns string, watch bool, check func(api.Object) (bool, error)) error {
	delay := 100 * time.Millisecond
	for {
		objs, rv, err := c.List(ctx, ref.kind, ns, api.ListOptions{})
		if err != nil {
			return err
		}
		obj := findNamed(objs, ref.name)
		if obj == nil {
			return api.NewNotFound(ref.kind, ref.name)
		}
		if done, err := check(obj); done || err != nil || !watch {
			return err
		}
		done, progressed, err := watchNamed(ctx, c, ref, ns, rv, check)
		if done || err != nil {
			return err
		}
		if progressed {
			delay = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 2*time.Second)
	}
}

// watchNamed feeds check the changes to one object from resourceVersion
// rv. It returns without error when the stream ends, expires or breaks,
// saying whether any change came through.
func watchNamed(ctx context.Context, c *client.Client, ref objectRef, ns, rv string, check func(api.Object) (bool, error)) (done, progressed bool, err error) {
	// Leaving early must end the stream too, not only the loop over it.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Watch(wctx, ref.kind, ns, api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return false, false, err
	}
	for ev := range ch {
		if client.EventError(ev) != nil {
			// An expired position or a broken stream: the caller lists
			// again, and that list reports an agent that is gone.
			return false, progressed, nil
		}
		if ev.Type == api.Bookmark || ev.Object.GetObjectMeta().Name != ref.name {
			continue
		}
		if ev.Type == api.Deleted {
			return false, progressed, fmt.Errorf("%s was deleted", rolloutSubject(ref))
		}
		progressed = true
		if done, err := check(ev.Object); done || err != nil {
			return done, progressed, err
		}
	}
	return false, progressed, ctx.Err()
}

func findNamed(objs []api.Object, name string) api.Object {
	for _, o := range objs {
		if o.GetObjectMeta().Name == name {
			return o
		}
	}
	return nil
}
