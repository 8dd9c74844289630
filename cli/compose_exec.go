package cli

import (
	"context"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

func newComposeExecCommand(e *env, o *composeOptions) *cobra.Command {
	var index int
	var noTTY, interactive bool
	eo := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [-T] [--index N] SERVICE COMMAND [ARGS...]",
		Short: "Run a command in a running container of a service",
		Long: `Run a command in a running pod of the service, as docker compose exec runs it
in a container of the service: the first pod (oldest first, then by name), or the
Nth with --index N. Standard input is passed on, and when it is a terminal the
command gets one (-T: never). The exit status is the command's.`,
		Example: `  shoal compose exec web sh
  shoal compose exec -T --index 2 web cat /etc/hostname`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if index < 1 {
				return usageError(cmd, "--index %d: give 1 for the first pod of the service, 2 for the second...", index)
			}
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			pod, err := servicePod(cmd.Context(), c, ns, args[0], index)
			if err != nil {
				return err
			}
			eo.stdin, eo.tty = interactive, !noTTY && interactive && stdinIsTerminal(cmd)
			var t terminal
			if eo.tty {
				t = setupTerminal(cmd, eo)
			}
			return execInPod(cmd, c, ns, pod, eo, t, args[1:])
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false) // flags after SERVICE belong to the command
	f.IntVar(&index, "index", 1, "which pod of the service: 1 for the first")
	f.BoolVarP(&noTTY, "no-tty", "T", false, "never give the command a terminal")
	f.BoolVarP(&interactive, "interactive", "i", true, "pass standard input to the command")
	return cmd
}

func stdinIsTerminal(cmd *cobra.Command) bool {
	f, ok := cmd.InOrStdin().(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// servicePod is the index-th running pod of a service (1 the first),
// oldest first, as docker compose numbers a service's containers.
func servicePod(ctx context.Context, c *client.Client, ns, service string, index int) (string, error) {
	pods, err := runningPods(ctx, c, ns, service)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", fmt.Errorf("compose: service %q has no running pod in project %s (see shoal compose ps)", service, ns)
	}
	if index > len(pods) {
		return "", fmt.Errorf("compose: service %q has %d running pods; --index %d is none of them", service, len(pods), index)
	}
	return pods[index-1].Name, nil
}

// runningPods lists a service's running pods, oldest first.
func runningPods(ctx context.Context, c *client.Client, ns, service string) ([]*api.Pod, error) {
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns, compose.LabelService: compose.ServiceObjectName(service)})
	pods, _, err := client.ListAs[api.Pod](ctx, c, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("compose: pods of service %s: %w", service, err)
	}
	var out []*api.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].CreationTimestamp, out[j].CreationTimestamp
		if !a.Equal(b.Time) {
			return a.Before(b.Time)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}
