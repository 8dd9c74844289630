package cli

import "github.com/spf13/cobra"

func newUncordonCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "uncordon NODE...",
		Short: "Mark nodes as schedulable again",
		Long: `Mark nodes as schedulable again, after "shoal cordon" or "shoal drain": the
scheduler may place new pods on them. Pods moved away by a drain stay where
they are now.`,
		Example: `  shoal uncordon h2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCordon(cmd, e, args, false)
		},
	}
}
