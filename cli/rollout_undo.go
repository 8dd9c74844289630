package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// keptOnRollback are the Deployment annotations a rollback keeps: they
// belong to the Deployment and its controller, not to a revision.
var keptOnRollback = map[string]bool{
	"kubectl.kubernetes.io/last-applied-configuration": true,
	api.AnnotationRevision:                             true,
	"deployment.kubernetes.io/revision-history":        true,
	api.AnnotationDesiredReplicas:                      true,
	api.AnnotationMaxReplicas:                          true,
}

func newRolloutUndoCommand(e *env) *cobra.Command {
	var to int64
	cmd := &cobra.Command{
		Use:   "undo deploy/NAME... [--to-revision N]",
		Short: "Roll a Deployment back to an earlier revision",
		Long: `Put the pod template of an earlier revision (the previous one, or
--to-revision N) back into the Deployment, which then rolls out again. The
ReplicaSet of that revision is reused and becomes the newest revision.`,
		Example: `  shoal rollout undo deploy/web
  shoal rollout undo deploy/web --to-revision 2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to < 0 {
				return usageError(cmd, "--to-revision must not be negative")
			}
			return runRolloutUndo(cmd, e, to, args)
		},
	}
	cmd.Flags().Int64Var(&to, "to-revision", 0, "the revision to go back to (0: the previous one)")
	return cmd
}

func runRolloutUndo(cmd *cobra.Command, e *env, to int64, args []string) error {
	refs, err := workloadRefs(cmd, args, api.KindDeployment)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	var errs errorList
	for _, ref := range refs {
		what, err := undoDeployment(cmd.Context(), c, e.namespace, ref.name, to)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ref, what)
	}
	return errs.orNil()
}

// undoDeployment writes the template of revision to (0: the one before the
// newest) into the Deployment with its resourceVersion, reading again on a
// conflict, and says what it did.
func undoDeployment(ctx context.Context, c *client.Client, ns, name string, to int64) (string, error) {
	what := ""
	_, _, err := c.Modify(ctx, api.KindDeployment, ns, name, func(o api.Object) (bool, error) {
		d, ok := o.(*api.Deployment)
		if !ok {
			return false, fmt.Errorf("rollout undo: got a %T", o)
		}
		if d.Spec.Paused {
			return false, fmt.Errorf("you cannot roll back a paused deployment; resume it first with 'shoal rollout resume deployment/%s' and try again", name)
		}
		sets, err := replicaSetsOf(ctx, c, d)
		if err != nil {
			return false, err
		}
		rs, err := revisionToRestore(d, sets, to)
		if err != nil {
			return false, err
		}
		same, err := sameTemplate(&rs.Spec.Template, &d.Spec.Template)
		if err != nil {
			return false, err
		}
		if same {
			what = fmt.Sprintf("skipped rollback (current template already matches revision %d)", revision(rs))
			return false, nil
		}
		if d.Spec.Template, err = withoutHash(&rs.Spec.Template); err != nil {
			return false, err
		}
		d.Annotations = rollbackAnnotations(d.Annotations, rs.Annotations)
		what = "rolled back"
		return true, nil
	})
	return what, err
}

// revisionToRestore finds the ReplicaSet of revision to, or for 0 the one of
// the highest revision below the newest. sets come newest first.
func revisionToRestore(d *api.Deployment, sets []*api.ReplicaSet, to int64) (*api.ReplicaSet, error) {
	var withRevision []*api.ReplicaSet
	for _, rs := range sets {
		if revision(rs) > 0 {
			withRevision = append(withRevision, rs)
		}
	}
	if to > 0 {
		for _, rs := range withRevision {
			if revision(rs) == to {
				return rs, nil
			}
		}
		return nil, fmt.Errorf("unable to find revision %d of deployment %q; see 'shoal rollout history deployment/%s'", to, d.Name, d.Name)
	}
	if len(withRevision) < 2 {
		return nil, fmt.Errorf("no rollout history found for deployment %q: there is no earlier revision to go back to", d.Name)
	}
	return withRevision[1], nil
}

// rollbackAnnotations are the revision's annotations (its change cause, so
// that history keeps telling the truth) over the Deployment's own ones.
func rollbackAnnotations(deployment, rs map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range deployment {
		if keptOnRollback[k] {
			out[k] = v
		}
	}
	for k, v := range rs {
		if !keptOnRollback[k] {
			out[k] = v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
