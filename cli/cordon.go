package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

func newCordonCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "cordon NODE...",
		Short: "Mark nodes as unschedulable",
		Long: `Mark nodes as unschedulable: the scheduler places no new pod on them, and the
pods already there keep running. "shoal drain" cordons and then moves the pods
away; "shoal uncordon" opens the nodes again.`,
		Example: `  shoal cordon h2`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCordon(cmd, e, args, true)
		},
	}
}

// runCordon sets spec.unschedulable of every node named, going on past
// nodes that fail, as kubectl does, and reports those at the end.
func runCordon(cmd *cobra.Command, e *env, nodes []string, cordon bool) error {
	if len(nodes) == 0 {
		return usageError(cmd, "name the nodes, such as '%s h2'", cmd.CommandPath())
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	var errs errorList
	for _, name := range nodes {
		if err := cordonNode(cmd.Context(), c, cmd.OutOrStdout(), name, cordon); err != nil {
			errs = append(errs, err)
			if cmd.Context().Err() != nil {
				break
			}
		}
	}
	return errs.orNil()
}

// cordonNode sets the node's spec.unschedulable with a read-modify-write
// that never overwrites a concurrent change, and prints kubectl's line:
// node/h2 cordoned, or already cordoned when there was nothing to do.
func cordonNode(ctx context.Context, c *client.Client, out io.Writer, name string, cordon bool) error {
	_, changed, err := c.Modify(ctx, api.KindNode, "", name, func(o api.Object) (bool, error) {
		n, ok := o.(*api.Node)
		if !ok {
			return false, fmt.Errorf("node %s: the server sent a %T", name, o)
		}
		if n.Spec.Unschedulable == cordon {
			return false, nil
		}
		n.Spec.Unschedulable = cordon
		return true, nil
	})
	if err != nil {
		return err
	}
	verb := "cordoned"
	if !cordon {
		verb = "uncordoned"
	}
	if !changed {
		verb = "already " + verb
	}
	_, err = fmt.Fprintf(out, "node/%s %s\n", name, verb)
	return err
}
