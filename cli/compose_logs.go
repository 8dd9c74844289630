package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

type composeLogsOptions struct {
	follow     bool
	tail       int64
	timestamps bool
	noPrefix   bool
}

func newComposeLogsCommand(e *env, o *composeOptions) *cobra.Command {
	lo := &composeLogsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [-f] [SERVICE...]",
		Short: "Print the logs of the project's services, each line prefixed by its pod",
		Long: `Print the logs of every pod of the project's services (or of the named ones),
each line prefixed by the pod's name, as docker compose prefixes a container's.
With -f, follow them, and the pods that start later too, until interrupted.`,
		Example: `  shoal compose logs
  shoal compose logs -f web
  shoal compose -p shop logs --tail 20 db`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ns, c, err := o.projectClient(cmd, e)
			if err != nil {
				return err
			}
			return composeLogs(cmd.Context(), c, ns, args, lo, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&lo.follow, "follow", "f", false, "keep printing new lines, of new pods too")
	f.Int64Var(&lo.tail, "tail", -1, "print only the last N lines of each pod (-1: all)")
	f.BoolVarP(&lo.timestamps, "timestamps", "t", false, "prefix each line with its RFC 3339 time")
	f.BoolVar(&lo.noPrefix, "no-log-prefix", false, "do not prefix the lines with the pod's name")
	return cmd
}

// logMux writes whole lines of several streams, one at a time.
type logMux struct {
	mu  sync.Mutex
	w   io.Writer
	pad int
}

func (m *logMux) copy(prefix string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m.mu.Lock()
		if prefix != "" {
			fmt.Fprintf(m.w, "%-*s | %s\n", m.pad, prefix, sc.Text())
		} else {
			fmt.Fprintln(m.w, sc.Text())
		}
		m.mu.Unlock()
	}
	return sc.Err()
}

func composeLogs(ctx context.Context, c *client.Client, ns string, services []string, lo *composeLogsOptions, out io.Writer) error {
	sel := map[string]string{compose.LabelProject: ns}
	want := map[string]bool{}
	for _, s := range services {
		want[compose.Namespace(s)] = true
	}
	mux := &logMux{w: out}
	opts := api.LogOptions{Follow: lo.follow, Timestamps: lo.timestamps}
	if lo.tail >= 0 {
		opts.TailLines = api.Int64(lo.tail)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	started := map[string]bool{} // pod uid
	for first := true; ; first = false {
		objs, _, err := c.List(ctx, api.KindPod, ns, api.ListOptions{LabelSelector: api.SelectorFromSet(sel)})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("compose logs: list pods of project %s: %w", ns, err)
		}
		var pods []*api.Pod
		for _, o := range objs {
			p := o.(*api.Pod)
			// A pod that never ran a container has no log yet.
			if (len(want) > 0 && !want[compose.ServiceOf(p)]) || started[string(p.UID)] || len(p.Status.ContainerStatuses) == 0 {
				continue
			}
			pods = append(pods, p)
		}
		sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
		if first {
			if len(objs) == 0 {
				return fmt.Errorf("compose logs: project %s has no pods", ns)
			}
			for _, p := range objs {
				if len(want) == 0 || want[compose.ServiceOf(p)] {
					mux.pad = max(mux.pad, len(p.GetObjectMeta().Name))
				}
			}
		}
		for _, p := range pods {
			started[string(p.UID)] = true
			prefix := p.Name
			if lo.noPrefix {
				prefix = ""
			}
			opts.Container = p.Spec.Containers[0].Name // a compose service has one
			rc, err := c.Logs(ctx, ns, p.Name, opts)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				fmt.Fprintf(out, "%-*s | (no log: %v)\n", mux.pad, p.Name, err)
				continue
			}
			if !lo.follow {
				err := mux.copy(prefix, rc)
				rc.Close()
				if err != nil && ctx.Err() == nil {
					return fmt.Errorf("compose logs: pod %s: %w", p.Name, err)
				}
				continue
			}
			wg.Go(func() {
				defer rc.Close()
				_ = mux.copy(prefix, rc) // a stream ends with its container or ctx
			})
		}
		if !lo.follow {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}
