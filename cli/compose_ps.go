package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// projectClient is the project's namespace (see projectNamespace) and a
// client of the API: what every verb that needs only the project's name
// starts with.
func (o *composeOptions) projectClient(cmd *cobra.Command, e *env) (string, *client.Client, error) {
	ns, _, err := o.projectNamespace(cmd)
	if err != nil {
		return "", nil, err
	}
	c, err := e.client(cmd)
	return ns, c, err
}

// projectNamespace is the namespace of the project the flags name: with
// -p and no -f, the name alone (no file needs to be at hand, as for
// docker compose -p NAME down); otherwise the loaded project's.
func (o *composeOptions) projectNamespace(cmd *cobra.Command) (string, *composeProject, error) {
	if o.project != "" && len(o.files) == 0 {
		return compose.Namespace(o.project), nil, nil
	}
	p, err := o.load(cmd)
	if err != nil {
		return "", nil, err
	}
	return compose.Namespace(p.Name), p, nil
}

func newComposePsCommand(e *env, o *composeOptions) *cobra.Command {
	var services bool
	cmd := &cobra.Command{
		Use:   "ps [SERVICE...]",
		Short: "List the project's services: replicas, state and published ports",
		Long: `List every service of the project as it runs on the cluster: its image, its
replicas (ready/wanted; completed/completions for a one-shot service), its state
(running, starting, waiting for its dependencies, completed, failed, or the
reason a container cannot start) and its published ports (*:PORT answers on
every host, (host) ports on the hosts that run its pods).`,
		Example: `  shoal compose ps
  shoal compose -p shop ps web`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			return printComposePs(cmd.Context(), c, ns, args, services, cmd)
		},
	}
	cmd.Flags().BoolVar(&services, "services", false, "print only the services' names")
	return cmd
}

func printComposePs(ctx context.Context, c *client.Client, ns string, only []string, namesOnly bool, cmd *cobra.Command) error {
	states, err := projectStates(ctx, c, ns)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, s := range only {
		want[s] = true
	}
	keys := make([]string, 0, len(states))
	for k, st := range states {
		if len(want) == 0 || want[k] || want[st.name] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, s := range only {
		if _, ok := states[compose.Namespace(s)]; !ok {
			return fmt.Errorf("compose ps: no such service in project %s: %q", ns, s)
		}
	}
	out := cmd.OutOrStdout()
	if namesOnly {
		for _, k := range keys {
			fmt.Fprintln(out, states[k].name)
		}
		return nil
	}
	lines := [][]string{{"SERVICE", "KIND", "IMAGE", "REPLICAS", "STATE", "PORTS"}}
	for _, k := range keys {
		st := states[k]
		lines = append(lines, []string{st.name, st.kind, st.image, st.replicas, st.state, strings.Join(st.ports, ", ")})
	}
	if len(keys) == 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "No services of project %s on the cluster.\n", ns)
		return nil
	}
	return printTable(out, lines)
}

// composeNamespaceExists reports whether the project's namespace is there
// and made by compose.
func composeNamespaceExists(ctx context.Context, c *client.Client, ns string) (bool, error) {
	obj, err := c.Get(ctx, api.KindNamespace, "", ns)
	if api.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if obj.GetObjectMeta().Labels[compose.LabelProject] != ns {
		return false, fmt.Errorf("compose: namespace %q is not a compose project (no label %s=%s); it is left alone", ns, compose.LabelProject, ns)
	}
	return true, nil
}
