package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

type logsOptions struct {
	container  string
	follow     bool
	tail       int64
	previous   bool
	timestamps bool
	sinceTime  string
}

func newLogsCommand(e *env) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs POD | deploy/NAME | rs/NAME | ds/NAME | job/NAME",
		Short: "Print the log of a container in a pod",
		Long: `Print the log of a container. For deploy/NAME, rs/NAME or ds/NAME, one of
the workload's pods is picked (a running, ready one first), as kubectl does;
for job/NAME, its newest pod.`,
		Example: `  shoal logs web-5d8f7
  shoal logs -f deploy/web
  shoal logs job/migrate
  shoal logs web-5d8f7 -c sidecar --tail 20`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd, e, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "container name (default: the pod's first)")
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines")
	f.Int64Var(&o.tail, "tail", -1, "print only the last N lines (-1: all)")
	f.BoolVarP(&o.previous, "previous", "p", false, "the log of the previous, ended container")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with its RFC 3339 time")
	f.StringVar(&o.sinceTime, "since-time", "", "only lines after this RFC 3339 time")
	return cmd
}

func runLogs(cmd *cobra.Command, e *env, o *logsOptions, arg string) error {
	opts := api.LogOptions{Container: o.container, Follow: o.follow, Previous: o.previous, Timestamps: o.timestamps}
	if o.tail >= 0 {
		opts.TailLines = api.Int64(o.tail)
	}
	if o.sinceTime != "" {
		t, err := time.Parse(time.RFC3339, o.sinceTime)
		if err != nil {
			return usageError(cmd, "--since-time must be an RFC 3339 time such as 2025-01-02T15:04:05Z: %v", err)
		}
		st := api.NewTime(t)
		opts.SinceTime = &st
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	pod, err := resolvePod(cmd.Context(), c, e.namespace, arg, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	rc, err := c.Logs(cmd.Context(), e.namespace, pod, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(cmd.OutOrStdout(), rc); err != nil {
		if cmd.Context().Err() != nil {
			return cmd.Context().Err()
		}
		return fmt.Errorf("reading the log of pod %s: %w", pod, err)
	}
	return nil
}
