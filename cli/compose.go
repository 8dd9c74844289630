package cli

import (
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/compose"
)

// composeOptions are the project flags every compose verb shares, as
// docker compose has them.
type composeOptions struct {
	files      []string
	project    string
	projectDir string
	envFiles   []string
	profiles   []string
}

func newComposeCommand(e *env) *cobra.Command {
	o := &composeOptions{}
	cmd := &cobra.Command{
		Use:   "compose [-f FILE]... [-p NAME] COMMAND",
		Short: "Run Compose projects on the cluster",
		Long: `Read a Compose project as docker compose does (several -f merged, .env and
--env-file, interpolation, env_file, profiles, extends, include) and work with it
on the cluster. Without -f, compose.yaml (or docker-compose.yml) of the current
directory is read, with its override file.`,
	}
	// Local, not persistent: they go before the verb, as docker compose
	// has them, and leave -f free for logs -f.
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "compose file (repeatable; later files override earlier ones; - for standard input)")
	f.StringVarP(&o.project, "project-name", "p", "", "project name (default: COMPOSE_PROJECT_NAME, the file's name:, or the directory's name)")
	f.StringVar(&o.projectDir, "project-directory", "", "directory of the project (default: the first file's)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "environment file for interpolation (repeatable; default: .env of the project directory)")
	f.StringArrayVar(&o.profiles, "profile", nil, "profile to enable (repeatable; default: COMPOSE_PROFILES)")
	cmd.PersistentPreRun = func(cmd *cobra.Command, _ []string) { compose.LogWarningsTo(cmd.ErrOrStderr()) }
	// The verbs inherit this: a project flag given after the verb gets a
	// hint where it goes.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		if c != cmd && projectFlagAfterVerb(err.Error()) {
			return usageError(c, "%v (the project flags -f, -p, --env-file, --profile and --project-directory go before the verb: shoal compose -f FILE %s)", err, c.Name())
		}
		return usageError(c, "%v", err)
	})
	cmd.AddCommand(newComposeConfigCommand(o), newComposeConvertCommand(o),
		newComposeUpCommand(e, o), newComposeDownCommand(e, o), newComposePsCommand(e, o), newComposeLogsCommand(e, o),
		newComposeBuildCommand(e, o), newComposeExecCommand(e, o), newComposeRestartCommand(e, o), newComposeEventsCommand(e, o),
		newComposeImagesCommand(e, o), newComposeTopCommand(e, o))
	cmd.AddCommand(newComposeHistoryCommand(e, o), newComposeRollbackCommand(e, o))
	return cmd
}

func (o *composeOptions) load(cmd *cobra.Command) (*composeProject, error) {
	p, err := compose.Load(cmd.Context(), compose.LoadOptions{
		Files: o.files, ProjectName: o.project, ProjectDir: o.projectDir, EnvFiles: o.envFiles, Profiles: o.profiles,
	})
	if err != nil {
		return nil, err
	}
	return &composeProject{p}, nil
}

func newComposeConfigCommand(o *composeOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Print the resolved project, as docker compose config does",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := o.load(cmd)
			if err != nil {
				return err
			}
			out, err := compose.Config(p.Project, format)
			if err != nil {
				return usageError(cmd, "%v", err)
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&format, "format", "yaml", "yaml or json")
	return cmd
}

func newComposeConvertCommand(o *composeOptions) *cobra.Command {
	var podSecurity string
	var strict bool
	cmd := &cobra.Command{
		Use:   "convert",
		Short: "Print the objects a project maps to, for shoal apply -f -",
		Long: `Print the Namespace, workloads, Services, ConfigMaps, Secrets and
PersistentVolumeClaims the project maps to, as multi-document YAML that
"shoal apply -f -" takes. What the project
asks for and shoal cannot honour is a warning on standard error; what would be
wrong to run without refuses the project. docs/compose.md has the whole mapping.`,
		Example: `  shoal compose -f compose.yaml convert | shoal apply -f -
  shoal compose convert --pod-security privileged   # for bind mounts`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPodSecurity(cmd, podSecurity); err != nil {
				return err
			}
			p, err := o.load(cmd)
			if err != nil {
				return err
			}
			res, err := convertProject(cmd, p, podSecurity, strict)
			if err != nil {
				return err
			}
			out, err := compose.WriteYAML(res.Objects)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	cmd.Flags().StringVar(&podSecurity, "pod-security", "", "label the project's namespace with this Pod Security level (privileged allows bind mounts, added capabilities, host namespaces)")
	cmd.Flags().BoolVar(&strict, "strict", false, "refuse a project with any warning")
	return cmd
}

// composeProject is a loaded project.
type composeProject struct{ *types.Project }

// projectFlagAfterVerb reports whether a flag error names one of the
// project flags, which only the compose command itself takes.
func projectFlagAfterVerb(msg string) bool {
	for _, f := range []string{"'f' in -f", "'p' in -p", "--file", "--project-name", "--env-file", "--profile", "--project-directory"} {
		if strings.Contains(msg, f) {
			return true
		}
	}
	return false
}
