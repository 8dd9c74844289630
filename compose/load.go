package compose

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/sirupsen/logrus"
)

// LoadOptions are the project flags of `docker compose`, with the same
// meaning and precedence.
type LoadOptions struct {
	Files       []string // -f, in order; later files override earlier ones
	ProjectName string   // -p; else COMPOSE_PROJECT_NAME, `name:`, the directory's name
	ProjectDir  string   // --project-directory; default: the first file's directory
	EnvFiles    []string // --env-file; default: .env of the project directory
	Profiles    []string // --profile; default: COMPOSE_PROFILES
	// Environment replaces the process environment when not nil (tests).
	Environment []string
	// skipConsistency loads a project compose-go would refuse as
	// inconsistent, for tests of what the converter makes of it.
	skipConsistency bool
}

// Load reads, merges, interpolates and validates a project as Docker Compose
// does: several files merged, .env and --env-file, ${VAR:-default} and
// ${VAR?error} interpolation, env_file, profiles, extends, include, x-
// extensions. Services of inactive profiles are left out.
func Load(ctx context.Context, o LoadOptions) (*types.Project, error) {
	env := o.Environment
	if env == nil {
		env = os.Environ()
	}
	opts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithEnv(env),
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithConsistency(!o.skipConsistency),
	)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return p, nil
}

// Config prints the resolved model as `docker compose config` does.
func Config(p *types.Project, format string) ([]byte, error) {
	switch format {
	case "", "yaml":
		return p.MarshalYAML()
	case "json":
		return p.MarshalJSON()
	}
	return nil, fmt.Errorf("unknown format %q: use yaml or json", format)
}

// LogWarningsTo sends the loader's warnings (an obsolete `version`, a
// variable defaulting to blank) to w as "warning: ..." lines, as docker
// compose prints them. compose-go logs through logrus's global logger.
func LogWarningsTo(w io.Writer) {
	logrus.SetOutput(w)
	logrus.SetFormatter(plainFormatter{})
}

type plainFormatter struct{}

func (plainFormatter) Format(e *logrus.Entry) ([]byte, error) {
	return []byte(strings.ToLower(e.Level.String()) + ": " + e.Message + "\n"), nil
}
