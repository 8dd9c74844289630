package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cli"
	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
)

func main() {
	os.Exit(cli.Execute(newRoot()))
}

// newRoot assembles the command line.
func newRoot() *cobra.Command {
	pause := &cobra.Command{
		Use:    "pause",
		Short:  "Hold a pod's namespaces (the sandbox container's process)",
		Hidden: true,
		Args:   cobra.NoArgs,
		// Pause handles SIGTERM and SIGINT itself.
		RunE: func(*cobra.Command, []string) error { return sandbox.Pause(context.Background()) },
	}
	return cli.NewRootCommand(daemon.NewAgentCommand(cli.Version), pause)
}
