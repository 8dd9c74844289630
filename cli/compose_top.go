package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/compose"
)

func newComposeTopCommand(e *env, o *composeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top [SERVICE...]",
		Short: "Show the processes running in each pod of the project's services",
		Long: `Show, for each running pod of the project's services (or of the named ones),
the processes of its container as its host's engine lists them (docker top),
under the pod's name and host, as docker compose top shows each container.`,
		Example: `  shoal compose top
  shoal compose -p shop top web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			services := args
			if len(services) == 0 {
				states, err := projectStates(ctx, c, ns)
				if err != nil {
					return err
				}
				for _, st := range states {
					services = append(services, st.name)
				}
				sort.Strings(services)
			}
			out := cmd.OutOrStdout()
			first := true
			for _, svc := range services {
				pods, err := runningPods(ctx, c, ns, svc)
				if err != nil {
					return err
				}
				for _, p := range pods {
					top, err := c.Top(ctx, ns, p.Name, "")
					if err != nil {
						return fmt.Errorf("compose top: pod %s of service %s: %w", p.Name, svc, err)
					}
					if !first {
						fmt.Fprintln(out)
					}
					first = false
					fmt.Fprintf(out, "%s (%s on %s)\n", p.Name, compose.ServiceObjectName(svc), p.Spec.NodeName)
					lines := [][]string{top.Titles}
					lines = append(lines, top.Processes...)
					if err := printTable(out, lines); err != nil {
						return err
					}
				}
			}
			if first {
				fmt.Fprintf(cmd.ErrOrStderr(), "No running pod of project %s.\n", ns)
			}
			return nil
		},
	}
	return cmd
}
