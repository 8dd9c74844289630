package cli

import "github.com/spf13/cobra"

func newRolloutResumeCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "resume deploy/NAME...",
		Short: "Let a paused Deployment roll out again",
		Long: `Clear a Deployment's paused mark: the changes made to its template while
it was paused roll out as one new revision.`,
		Example: `  shoal rollout resume deploy/web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSetPaused(cmd, e, args, false)
		},
	}
}
