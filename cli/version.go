package cli

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api/client"
)

// Version is the version of this binary, set at build time with
// -ldflags "-X github.com/shoal-dev/shoal/cli.Version=v0.1.0".
var Version = "v0.1.0-dev"

// versionDocument is what `version -o json|yaml` prints.
type versionDocument struct {
	ClientVersion client.VersionInfo  `json:"clientVersion"`
	ServerVersion *client.VersionInfo `json:"serverVersion,omitempty"`
}

func newVersionCommand(e *env) *cobra.Command {
	var clientOnly bool
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client's version and, if reachable, the agent's",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd, e, clientOnly, output)
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client's version; do not contact the agent")
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml")
	return cmd
}

func runVersion(cmd *cobra.Command, e *env, clientOnly bool, output string) error {
	if output != "" && output != outputJSON && output != outputYAML {
		return usageError(cmd, "-o must be json or yaml, not %q", output)
	}
	doc := versionDocument{ClientVersion: client.VersionInfo{GitVersion: Version, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}}
	if !clientOnly {
		sv, err := serverVersion(cmd, e)
		if err != nil {
			return err
		}
		doc.ServerVersion = sv
	}
	if output != "" {
		return printDocument(cmd.OutOrStdout(), output, doc)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Client Version: %s\n", doc.ClientVersion.GitVersion)
	if doc.ServerVersion != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "Server Version: %s\n", doc.ServerVersion.GitVersion)
	}
	return nil
}

// serverVersion asks the agent; an agent that cannot be reached is noted on
// stderr and is not an error, since the client's version is still useful.
func serverVersion(cmd *cobra.Command, e *env) (*client.VersionInfo, error) {
	c, err := e.client(cmd)
	if err != nil {
		return nil, err
	}
	v, err := c.Version(cmd.Context())
	var ce *client.ConnectionError
	if errors.As(err, &ce) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Server Version: unknown (%v)\n", err)
		return nil, nil
	}
	return v, err
}
