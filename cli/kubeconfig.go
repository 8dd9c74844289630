package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/shoal-dev/shoal/api/client"
)

// AgentKubeconfig is where a root user on a host running an agent finds
// the admin credentials the first agent wrote.
const AgentKubeconfig = "/var/lib/shoal/admin.kubeconfig"

// kubeconfigPath finds the credentials file: --kubeconfig, then
// $KUBECONFIG (the first of its files that exists), then ~/.shoal/config,
// then, for root on a host running an agent, /var/lib/shoal/admin.kubeconfig.
// It returns "" when there is none.
func (e *env) kubeconfigPath() (string, error) {
	if e.kubeconfig != "" {
		if _, err := os.Stat(e.kubeconfig); err != nil {
			return "", fmt.Errorf("--kubeconfig %s: %w", e.kubeconfig, err)
		}
		return e.kubeconfig, nil
	}
	if list, ok := os.LookupEnv("KUBECONFIG"); ok && list != "" {
		for _, p := range filepath.SplitList(list) {
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
		return "", nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".shoal", "config")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if os.Geteuid() == 0 {
		if _, err := os.Stat(AgentKubeconfig); err == nil {
			return AgentKubeconfig, nil
		}
	}
	return "", nil
}

// connection resolves how to reach the API: the kubeconfig's context,
// overridden by --server/$SHOAL_ADDR, --token/$SHOAL_TOKEN,
// --certificate-authority and --insecure-skip-tls-verify.
func (e *env) connection() (*client.Connection, error) {
	conn := &client.Connection{}
	path, err := e.kubeconfigPath()
	if err != nil {
		return nil, err
	}
	if path != "" {
		kc, err := client.LoadKubeconfig(path)
		if err != nil {
			return nil, err
		}
		// An empty file (such as /dev/null) is no kubeconfig, as for kubectl.
		if len(kc.Contexts) > 0 || e.context != "" {
			if conn, err = kc.Resolve(e.context); err != nil {
				return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
			}
		}
	} else if e.context != "" {
		return nil, fmt.Errorf("--context %s: no kubeconfig found (give --kubeconfig or set $KUBECONFIG)", e.context)
	}
	if s := firstOf(e.server, os.Getenv("SHOAL_ADDR")); s != "" {
		conn.Server = s
	}
	if conn.Server == "" {
		conn.Server = client.DefaultServer
	}
	if t := firstOf(e.token, os.Getenv("SHOAL_TOKEN")); t != "" {
		conn.Token = t
		conn.CertPEM, conn.KeyPEM = nil, nil
	}
	if e.caFile != "" {
		b, err := os.ReadFile(e.caFile)
		if err != nil {
			return nil, fmt.Errorf("--certificate-authority: %w", err)
		}
		conn.CAData = b
	}
	if e.insecure {
		conn.Insecure = true
	}
	return conn, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// newConfigCommand is `shoal config`: look at and switch kubeconfig
// contexts, as `kubectl config` does.
func newConfigCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the kubeconfig in use, and switch its context",
		Long: `Show the kubeconfig file shoal reads its credentials from, and switch its current
context. shoal looks for it in --kubeconfig, then $KUBECONFIG, then ~/.shoal/config,
then (for root on a host running an agent) /var/lib/shoal/admin.kubeconfig. The
same file works with kubectl.`,
	}
	var raw bool
	view := &cobra.Command{
		Use:   "view",
		Short: "Print the kubeconfig (credentials hidden unless --raw)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, kc, err := e.loadKubeconfig()
			if err != nil {
				return err
			}
			if !raw {
				for i := range kc.Users {
					u := &kc.Users[i].User
					if u.Token != "" {
						u.Token = "REDACTED"
					}
					if len(u.ClientKeyData) > 0 {
						u.ClientKeyData = []byte("REDACTED")
					}
				}
				for i := range kc.Clusters {
					if len(kc.Clusters[i].Cluster.CertificateAuthorityData) > 0 {
						kc.Clusters[i].Cluster.CertificateAuthorityData = []byte("DATA+OMITTED")
					}
				}
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "# %s\n", path)
			b, err := yaml.Marshal(kc)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	view.Flags().BoolVar(&raw, "raw", false, "print the credentials and CA data too")
	getContexts := &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts of the kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, kc, err := e.loadKubeconfig()
			if err != nil {
				return err
			}
			lines := [][]string{{"CURRENT", "NAME", "CLUSTER", "AUTHINFO", "NAMESPACE"}}
			for _, c := range kc.Contexts {
				cur := ""
				if c.Name == kc.CurrentContext {
					cur = "*"
				}
				lines = append(lines, []string{cur, c.Name, c.Context.Cluster, c.Context.User, c.Context.Namespace})
			}
			return printTable(cmd.OutOrStdout(), lines)
		},
	}
	current := &cobra.Command{
		Use:   "current-context",
		Short: "Print the current context",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, kc, err := e.loadKubeconfig()
			if err != nil {
				return err
			}
			if kc.CurrentContext == "" {
				return errors.New("the kubeconfig has no current-context")
			}
			fmt.Fprintln(cmd.OutOrStdout(), kc.CurrentContext)
			return nil
		},
	}
	use := &cobra.Command{
		Use:   "use-context NAME",
		Short: "Make NAME the current context",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError(cmd, "use-context takes exactly one context NAME")
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			_, kc, err := e.loadKubeconfig()
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveError
			}
			return kc.ContextNames(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path, kc, err := e.loadKubeconfig()
			if err != nil {
				return err
			}
			found := false
			for _, c := range kc.Contexts {
				found = found || c.Name == args[0]
			}
			if !found {
				return fmt.Errorf("no context %q in %s (contexts: %s)", args[0], path, strings.Join(kc.ContextNames(), ", "))
			}
			kc.CurrentContext = args[0]
			if err := kc.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Switched to context %q.\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(view, getContexts, current, use)
	return cmd
}

func (e *env) loadKubeconfig() (string, *client.Kubeconfig, error) {
	path, err := e.kubeconfigPath()
	if err != nil {
		return "", nil, err
	}
	if path == "" {
		return "", nil, &fs.PathError{Op: "find kubeconfig", Path: "--kubeconfig, $KUBECONFIG, ~/.shoal/config, " + AgentKubeconfig,
			Err: errors.New("none exists; copy the admin.kubeconfig the first agent wrote to ~/.shoal/config")}
	}
	kc, err := client.LoadKubeconfig(path)
	return path, kc, err
}
