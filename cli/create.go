package cli

import "github.com/spf13/cobra"

func newCreateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an object from the command line",
		Long: `Create an object from the command line. To create objects from YAML or
JSON files, use "shoal apply -f".`,
		Example: `  shoal create namespace team
  shoal create service clusterip web --tcp=80:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newCreateNamespaceCommand(e), newCreateServiceCommand(e))
	return cmd
}
