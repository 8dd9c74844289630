package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

// Where `shoal install` puts things by default.
const (
	defaultUnitPath   = "/etc/systemd/system/shoal.service"
	defaultConfigPath = "/etc/shoal/agent.yaml"
	defaultBinPath    = "/usr/local/bin/shoal"
)

// NewInstallCommand is `shoal install`: it writes the agent's systemd unit
// and its configuration file (holding the agent flags given to install),
// and puts the binary where the unit runs it from.
func NewInstallCommand() *cobra.Command {
	cfg := DefaultConfig()
	var raw rawFlags
	var o installOptions
	agentFlags := pflag.NewFlagSet("agent", pflag.ContinueOnError)
	bindAgentFlags(agentFlags, &cfg, &raw)
	cmd := &cobra.Command{
		Use:   "install [agent flags]",
		Short: "Install the agent as a systemd service: its unit, its configuration file and the binary",
		Long: `Install the agent as a systemd service. Writes the unit (` + defaultUnitPath + `),
the configuration file (` + defaultConfigPath + `, mode 0600: it may hold the join token)
with the agent flags given here, and copies this binary to ` + defaultBinPath + `.
Then start it with: systemctl daemon-reload && systemctl enable --now shoal

Every flag of "shoal agent" is accepted and checked as the agent would.`,
		Example: `  shoal install --print
  shoal install --name node-1 --join 10.0.0.11:7481 --join-token "$TOKEN"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := raw.apply(&cfg); err != nil {
				return err
			}
			if _, err := newLogger(raw.logLevel, raw.logFormat); err != nil {
				return err
			}
			if err := cfg.validate(); err != nil {
				return err
			}
			config, err := renderConfig(agentFlags)
			if err != nil {
				return err
			}
			unit, err := renderUnit(o.binPath, o.configPath)
			if err != nil {
				return err
			}
			if o.print {
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "# %s\n%s\n# %s\n%s", o.unitPath, unit, o.configPath, config)
				return err
			}
			return o.install(cmd.OutOrStdout(), unit, config)
		},
	}
	cmd.Flags().AddFlagSet(agentFlags)
	cmd.Flags().BoolVar(&o.print, "print", false, "print the unit and the configuration file instead of writing anything")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace a unit or configuration file already there")
	cmd.Flags().StringVar(&o.unitPath, "unit", defaultUnitPath, "where to write the systemd unit")
	cmd.Flags().StringVar(&o.configPath, configFlag, defaultConfigPath, "where to write the agent's configuration file")
	cmd.Flags().StringVar(&o.binPath, "bin", defaultBinPath, "where the unit runs shoal from; this binary is copied there")
	return cmd
}

type installOptions struct {
	print, force                  bool
	unitPath, configPath, binPath string
}

// install writes the binary, the configuration file and the unit.
func (o installOptions) install(out io.Writer, unit, config string) error {
	for _, p := range []string{o.unitPath, o.configPath} {
		if _, err := os.Stat(p); err == nil && !o.force {
			return fmt.Errorf("%s exists: give --force to replace it, or --print to see what would be written", p)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this binary: %w", err)
	}
	if err := copyBinary(self, o.binPath); err != nil {
		return err
	}
	if err := writeFileAtomic(o.configPath, []byte(config), 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(o.unitPath, []byte(unit), 0o644); err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "wrote %s, %s and %s\nstart the agent with: systemctl daemon-reload && systemctl enable --now %s\nits log: journalctl -u %s -f\n",
		o.binPath, o.configPath, o.unitPath, unitName(o.unitPath), unitName(o.unitPath))
	return err
}

func unitName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".service") }

// copyBinary copies the running binary to dst, unless dst is that file.
func copyBinary(self, dst string) error {
	if a, err := os.Stat(self); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return nil
		}
	}
	data, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("read this binary: %w", err)
	}
	return writeFileAtomic(dst, data, 0o755)
}

// writeFileAtomic writes a file beside path and renames it into place, so
// that a reader (or a running unit's binary) never sees half a file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("install: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("install: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Chmod(mode), f.Sync(), f.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("install %s: %w", path, err)
	}
	return nil
}

// renderConfig writes the flags given on fs as a configuration file.
func renderConfig(fs *pflag.FlagSet) (string, error) {
	values := map[string]any{}
	var err error
	// VisitAll and Changed, not Visit: the flags were set through the
	// command's flag set, which shares the flags but not fs's record of
	// which were set.
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed || f.Name == configFlag || err != nil {
			return
		}
		values[f.Name], err = configValue(f)
	})
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	b.WriteString("# shoal agent settings (shoal agent --config FILE). The keys are the flag\n" +
		"# names of `shoal agent --help`; a flag or SHOAL_* variable overrides a key.\n")
	if len(values) == 0 {
		b.WriteString("# Every setting is at its default; add keys such as:\n# name: node-1\n# join: [10.0.0.11:7481]\n")
		return b.String(), nil
	}
	y, err := yaml.Marshal(values)
	if err != nil {
		return "", fmt.Errorf("render the configuration: %w", err)
	}
	b.Write(y)
	return b.String(), nil
}

// configValue is a flag's value as the file writes it: lists as lists,
// labels as a mapping, booleans as booleans, everything else as text.
func configValue(f *pflag.Flag) (any, error) {
	text := f.Value.String()
	switch {
	case slices.Contains(mapKeys, f.Name):
		labels, err := ParseLabels(text)
		if err != nil {
			return nil, err
		}
		return labels, nil
	case slices.Contains(listKeys, f.Name):
		return splitList(text), nil
	case f.Value.Type() == "bool":
		return strconv.ParseBool(text)
	}
	return text, nil
}

// unitTemplate is the agent's systemd unit. The hardening is what does not
// give the service a mount namespace of its own: the agent bind-mounts
// subPath volumes below its data dir for the engine to mount into pods, so
// ProtectSystem, PrivateTmp, ReadWritePaths and the like (which all make a
// private mount namespace) would hide those mounts from the engine; and it
// needs root, the network and setns into pods' namespaces.
var unitTemplate = template.Must(template.New("unit").Parse(`# Written by "shoal install" (docs/install.md).
[Unit]
Description=shoal agent: this host's part of the cluster
Documentation=https://github.com/shoal-dev/shoal/blob/main/docs/install.md
Wants=network-online.target docker.service
After=network-online.target docker.service

[Service]
Type=exec
ExecStart={{.Bin}} agent --config {{.Config}}
# SIGTERM: the agent stops its loops and closes its store. Pods run in the
# engine's containers, outside this unit, and keep running.
TimeoutStopSec=30s
Restart=always
RestartSec=2s
LimitNOFILE=1048576
SyslogIdentifier=shoal
NoNewPrivileges=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK

[Install]
WantedBy=multi-user.target
`))

// renderUnit fills the unit in; both paths must be absolute, as systemd
// wants them.
func renderUnit(bin, config string) (string, error) {
	for _, p := range []struct{ flag, path string }{{"--bin", bin}, {"--" + configFlag, config}} {
		if !filepath.IsAbs(p.path) || strings.ContainsAny(p.path, " \t\n\"'\\%$") {
			return "", fmt.Errorf("%s %q: give an absolute path without spaces, quotes or %%, such as %s", p.flag, p.path, defaultBinPath)
		}
	}
	var b bytes.Buffer
	if err := unitTemplate.Execute(&b, struct{ Bin, Config string }{bin, config}); err != nil {
		return "", err
	}
	return b.String(), nil
}
