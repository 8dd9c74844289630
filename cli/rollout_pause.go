package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

func newRolloutPauseCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "pause deploy/NAME...",
		Short: "Hold a Deployment's rollouts",
		Long: `Mark a Deployment as paused: changes to its template are kept but not
rolled out, so that several can be made at once, until "rollout resume".
Scaling still works while paused.`,
		Example: `  shoal rollout pause deploy/web
  shoal set image deploy/web web=nginx:1.28
  shoal rollout resume deploy/web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSetPaused(cmd, e, args, true)
		},
	}
}

// runSetPaused sets spec.paused of each Deployment. Pausing a paused
// Deployment (or resuming a running one) is an error, as in kubectl.
func runSetPaused(cmd *cobra.Command, e *env, args []string, paused bool) error {
	refs, err := workloadRefs(cmd, args, api.KindDeployment)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	done, already := "resumed", "is not paused"
	if paused {
		done, already = "paused", "is already paused"
	}
	var errs errorList
	for _, ref := range refs {
		_, _, err := c.Modify(cmd.Context(), ref.kind, e.namespace, ref.name, func(o api.Object) (bool, error) {
			d, ok := o.(*api.Deployment)
			if !ok {
				return false, fmt.Errorf("rollout: got a %T", o)
			}
			if d.Spec.Paused == paused {
				return false, fmt.Errorf("%s.%s %q %s", ref.kind.Resource, ref.kind.Group, ref.name, already)
			}
			d.Spec.Paused = paused
			return true, nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", ref, done)
	}
	return errs.orNil()
}
