package cli

import "github.com/spf13/cobra"

func newSetCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "set",
		Short:   "Change one field of existing objects",
		Long:    `Change one field of existing objects, such as the images of a workload's containers.`,
		Example: `  shoal set image deploy/web web=nginx:1.28`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newSetImageCommand(e))
	return cmd
}
