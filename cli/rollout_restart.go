package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

// annotationRestartedAt is the template annotation kubectl sets to restart
// a workload: a changed template makes the controller replace every pod.
const annotationRestartedAt = "kubectl.kubernetes.io/restartedAt"

func newRolloutRestartCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "restart deploy/NAME... | ds/NAME...",
		Short: "Replace every pod of a Deployment or DaemonSet",
		Long: `Restart a workload by a rolling update of all its pods: the pod template
gets the annotation kubectl.kubernetes.io/restartedAt with the current time,
so the controller replaces the pods as for any other change, within the
limits of the update strategy.`,
		Example: `  shoal rollout restart deploy/web
  shoal rollout restart ds/log-agent && shoal rollout status ds/log-agent`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRolloutRestart(cmd, e, args)
		},
	}
}

func runRolloutRestart(cmd *cobra.Command, e *env, args []string) error {
	refs, err := workloadRefs(cmd, args, api.KindDeployment, api.KindDaemonSet)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	at := e.now().Format(time.RFC3339)
	var errs errorList
	for _, ref := range refs {
		_, _, err := c.Modify(cmd.Context(), ref.kind, e.namespace, ref.name, func(o api.Object) (bool, error) {
			if d, ok := o.(*api.Deployment); ok && d.Spec.Paused {
				return false, fmt.Errorf("%s.%s %q can't restart paused deployment (run rollout resume first)", ref.kind.Resource, ref.kind.Group, ref.name)
			}
			t := podTemplateOf(o)
			if t == nil {
				return false, fmt.Errorf("rollout restart: %s has no pod template", ref)
			}
			if t.Annotations[annotationRestartedAt] == at {
				return false, nil // restarted within this second already
			}
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
			return true, nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s restarted\n", ref)
	}
	return errs.orNil()
}
