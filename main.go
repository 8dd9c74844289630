package main

import (
	"context"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/cli"
	"github.com/shoal-dev/shoal/daemon"
	"github.com/shoal-dev/shoal/daemon/hostexec"
	"github.com/shoal-dev/shoal/daemon/node/sandbox"
)

func main() {
	// In the container image the host's network tools are links to this
	// binary (daemon/hostexec); started under such a name it runs the
	// host's tool instead.
	if code, handled := hostexec.Run(os.Args); handled {
		os.Exit(code)
	}
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
	hostTools := &cobra.Command{
		Use:    "link-host-tools DIR [TARGET]",
		Short:  "Link the host tools' names in DIR to TARGET, by default this binary (the container image's build runs it)",
		Hidden: true,
		Args:   cobra.RangeArgs(1, 2),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 2 {
				return hostexec.Link(args[0], args[1])
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			return hostexec.Link(args[0], self)
		},
	}
	return cli.NewRootCommand(daemon.NewAgentCommand(cli.Version), pause, hostTools, daemon.NewInstallCommand())
}
