package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

func newComposeBuildCommand(e *env, o *composeOptions) *cobra.Command {
	var noCache, pull, quiet bool
	cmd := &cobra.Command{
		Use:   "build [SERVICE...]",
		Short: "Build the images of the project's services that have build:",
		Long: `Build the image of every service with a build: section (or of the named
ones) with the container engine of the host whose agent this command talks to,
from the service's context directory (without what its .dockerignore
excludes), its Dockerfile or dockerfile_inline, target, args and labels. The
image is tagged with the service's image:, else <project>-<service>; the
services' pods take it from there (pull policy IfNotPresent). A context or a
Dockerfile outside the project directory is refused.`,
		Example: `  shoal compose build
  shoal compose build --no-cache web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd)
			if err != nil {
				return err
			}
			builds, err := compose.Builds(p.Project, args)
			if err != nil {
				return err
			}
			c, err := e.client(cmd)
			if err != nil {
				return err
			}
			for i := range builds {
				builds[i].NoCache = builds[i].NoCache || noCache
				builds[i].Pull = builds[i].Pull || pull
			}
			out := cmd.OutOrStdout()
			if quiet {
				out = io.Discard
			}
			return buildImages(cmd.Context(), c, compose.Namespace(p.Name), builds, false, out)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noCache, "no-cache", false, "build without the engine's cache")
	f.BoolVar(&pull, "pull", false, "pull the base images first")
	f.BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors")
	return cmd
}

// buildImages builds each service's image through the agent, one after
// the other, printing the build's output prefixed with the service's name.
// With ifMissing, an image the agent's engine already has is not built.
func buildImages(ctx context.Context, c *client.Client, ns string, builds []compose.Build, ifMissing bool, out io.Writer) error {
	pad := 0
	for _, b := range builds {
		pad = max(pad, len(b.Service))
	}
	for _, b := range builds {
		id, existing, err := buildImage(ctx, c, ns, b, ifMissing, func(line string) {
			for _, l := range strings.Split(strings.TrimRight(line, "\n"), "\n") {
				if strings.TrimSpace(l) != "" {
					fmt.Fprintf(out, "%-*s | %s\n", pad, b.Service, l)
				}
			}
		})
		if err != nil {
			return fmt.Errorf("compose build: service %q: %w", b.Service, err)
		}
		if existing {
			fmt.Fprintf(out, "%-*s | image %s is there (%s); not built\n", pad, b.Service, b.Image, shortID(id))
			continue
		}
		fmt.Fprintf(out, "%-*s | built %s (%s)\n", pad, b.Service, b.Image, shortID(id))
	}
	return nil
}

// buildImage streams the context of b to the agent as it is read from
// disk.
func buildImage(ctx context.Context, c *client.Client, ns string, b compose.Build, ifMissing bool, progress func(string)) (string, bool, error) {
	pr, pw := io.Pipe()
	var wg sync.WaitGroup
	wg.Go(func() { pw.CloseWithError(b.WriteContext(pw)) })
	defer wg.Wait()
	defer pr.Close() // stops the writer if the request ended early
	return c.Build(ctx, api.BuildOptions{Namespace: ns, Tags: []string{b.Image}, Dockerfile: b.Dockerfile,
		Target: b.Target, BuildArgs: b.Args, Labels: b.Labels, NoCache: b.NoCache, Pull: b.Pull, IfMissing: ifMissing}, pr, progress)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// upBuilds are the builds up makes before it applies the project: with
// --build every selected service with build:, with --no-build none, else
// those whose image the agent's engine lacks (and, as docker compose,
// always those with pull_policy: build). It returns the builds and which
// of them build whatever is there.
func upBuilds(p *types.Project, selected map[string]bool, mode string) ([]compose.Build, map[string]bool, error) {
	all, err := compose.Builds(p, nil) // refuses a bad context even with --no-build
	if err != nil || mode == "never" {
		return nil, nil, err
	}
	var out []compose.Build
	always := map[string]bool{}
	for _, b := range all {
		if !selected[compose.ServiceObjectName(b.Service)] {
			continue
		}
		out = append(out, b)
		if mode == "always" || p.Services[b.Service].PullPolicy == types.PullPolicyBuild {
			always[b.Service] = true
		}
	}
	return out, always, nil
}

// runUpBuilds builds what up must build before applying.
func runUpBuilds(ctx context.Context, c *client.Client, ns string, p *types.Project, selected map[string]bool, mode string, out io.Writer) error {
	builds, always, err := upBuilds(p, selected, mode)
	if err != nil || len(builds) == 0 {
		return err
	}
	for _, b := range builds {
		if err := buildImages(ctx, c, ns, []compose.Build{b}, !always[b.Service], out); err != nil {
			return err
		}
	}
	return nil
}

// upBuildFlags are up's build flags.
type upBuildFlags struct{ build, noBuild bool }

func (b *upBuildFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&b.build, "build", false, "build the images of services with build: first, even those that are there")
	f.BoolVar(&b.noBuild, "no-build", false, "build nothing, even images that are missing")
	cmd.MarkFlagsMutuallyExclusive("build", "no-build")
}

// buildMode is what up builds: "always", "never", or "missing" images.
func (b *upBuildFlags) buildMode() string {
	switch {
	case b.build:
		return "always"
	case b.noBuild:
		return "never"
	}
	return "missing"
}
