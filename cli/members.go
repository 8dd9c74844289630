package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func newMembersCommand(e *env) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "members",
		Short: "List the agents of the cluster and the leader",
		Long: `List the agents that form the cluster, as the agent asked (--server) sees
them through gossip: each one's gossip address, its state (alive, suspect, dead
or left) and since when, and the leader, which runs the controllers and the
scheduler. Agents may disagree for a moment, during a partition say; ask
another agent with --server to compare.

-o wide adds each member's clock as the agent asked measures it over gossip:
its offset and the measurement's uncertainty. A member whose clock is off by
more than the maximum clock offset (the agents' --max-clock-offset), or whose
writes were refused for being stamped in the future, is named in a warning.`,
		Example: `  shoal members
  shoal members -o wide
  shoal --server http://10.213.0.12:7480 members -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != outputTable && output != outputWide && output != outputJSON && output != outputYAML {
				return usageError(cmd, "unable to match a printer suitable for the output format %q, allowed formats are: json,wide,yaml", output)
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			l, err := c.Members(cmd.Context())
			if err != nil {
				return err
			}
			sort.SliceStable(l.Items, func(i, j int) bool { return l.Items[i].Name < l.Items[j].Name })
			if output == outputJSON || output == outputYAML {
				return printDocument(cmd.OutOrStdout(), output, l)
			}
			if len(l.Items) == 0 {
				fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
				return nil
			}
			if err := printMembers(cmd.OutOrStdout(), l, output == outputWide, e.now()); err != nil {
				return err
			}
			clockWarnings(cmd.ErrOrStderr(), l)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")
	return cmd
}
