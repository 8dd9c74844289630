package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

func newCreateNamespaceCommand(e *env) *cobra.Command {
	var dryRun, output string
	cmd := &cobra.Command{
		Use:     "namespace NAME [--dry-run=client] [-o json|yaml|name]",
		Aliases: []string{"ns"},
		Short:   "Create a namespace",
		Example: `  shoal create namespace team
  shoal create ns team --dry-run=client -o yaml > team.yaml`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "create namespace takes exactly one NAME")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCreateNamespace(cmd, e, args[0], dryRun, output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&dryRun, "dry-run", "none", `"client" prints the namespace without creating it`)
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.StringVarP(&output, "output", "o", "", "json, yaml or name")
	return cmd
}

func runCreateNamespace(cmd *cobra.Command, e *env, name, dryRun, output string) error {
	switch output {
	case "", outputJSON, outputYAML, outputName:
	default:
		return usageError(cmd, "-o must be json, yaml or name, not %q", output)
	}
	ns := &api.Namespace{TypeMeta: api.TypeMeta{Kind: api.KindNamespace.Kind, APIVersion: api.KindNamespace.APIVersion()},
		ObjectMeta: api.ObjectMeta{Name: name}}
	var obj api.Object = ns
	suffix := ""
	switch dryRun {
	case "client":
		suffix = " (dry run)"
	case "none", "":
		c, err := e.client(cmd)
		if err != nil {
			return err
		}
		if obj, err = c.Create(cmd.Context(), api.KindNamespace, "", ns); err != nil {
			return err
		}
	default:
		return usageError(cmd, `--dry-run must be "none" or "client", not %q`, dryRun)
	}
	out := cmd.OutOrStdout()
	switch output {
	case outputJSON, outputYAML:
		return printDocument(out, output, obj)
	case outputName:
		return printNames(out, api.KindNamespace, []api.Object{obj})
	}
	_, err := fmt.Fprintf(out, "%s created%s\n", qualifiedName(api.KindNamespace, obj), suffix)
	return err
}
