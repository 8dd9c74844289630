package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

type deleteOptions struct {
	files          []string
	selector       string
	all            bool
	gracePeriod    int
	now            bool
	wait           bool
	timeout        time.Duration
	ignoreNotFound bool
}

func newDeleteCommand(e *env) *cobra.Command {
	o := &deleteOptions{}
	cmd := &cobra.Command{
		Use:   "delete KIND NAME... | KIND/NAME... | -f FILE | KIND -l SELECTOR",
		Short: "Delete objects by name, from files, or by label",
		Long: `Delete objects by kind and name, by the objects a manifest names (-f), or by
label selector (-l). Like kubectl, delete waits until the objects are gone
(pods stop their containers first); --wait=false returns at once.`,
		Example: `  shoal delete pod web-5d8f7
  shoal delete -f web.yaml
  shoal delete pods -l app=web --now`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDelete(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&o.files, "filename", "f", nil, "delete the objects named in these files (- for standard input)")
	f.StringVarP(&o.selector, "selector", "l", "", "delete the objects of KIND matching this label selector")
	f.BoolVar(&o.all, "all", false, "delete every object of KIND in the namespace")
	f.IntVar(&o.gracePeriod, "grace-period", -1, "seconds the containers get to stop; -1 uses the pod's own, 0 removes at once")
	f.BoolVar(&o.now, "now", false, "stop the containers at once (same as --grace-period=1)")
	f.BoolVar(&o.wait, "wait", true, "wait until the objects are gone")
	f.DurationVar(&o.timeout, "timeout", 0, "give up waiting after this long (0: wait as long as it takes)")
	f.BoolVar(&o.ignoreNotFound, "ignore-not-found", false, "treat a missing object as deleted")
	return cmd
}

// victim is one object to delete.
type victim struct {
	kind      *api.Kind
	ns, name  string
	uid       string // set once deleted, to wait for that very object
	lingering bool   // the server still has it (Terminating)
}

func runDelete(cmd *cobra.Command, e *env, o *deleteOptions, args []string) error {
	if err := checkDeleteArgs(cmd, o, args); err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	opts := api.DeleteOptions{}
	if o.now {
		opts.GracePeriodSeconds = api.Int64(1)
	} else if o.gracePeriod >= 0 {
		opts.GracePeriodSeconds = api.Int64(int64(o.gracePeriod))
	}
	var deleted []victim
	var errs errorList
	if o.selector != "" || o.all {
		deleted, err = deleteBySelector(cmd, e, c, o, args)
		if err != nil {
			return err
		}
	} else {
		victims, err := deleteTargets(cmd, e, o, args)
		if err != nil {
			return err
		}
		deleted, errs = deleteEach(cmd, c, victims, opts, o.ignoreNotFound)
	}
	if o.wait {
		if err := waitGone(cmd.Context(), c, deleted, o.timeout, cmd.ErrOrStderr()); err != nil {
			errs = append(errs, err)
		}
	}
	return errs.orNil()
}

func checkDeleteArgs(cmd *cobra.Command, o *deleteOptions, args []string) error {
	switch {
	case len(o.files) > 0 && len(args) > 0:
		return usageError(cmd, "give either -f or KIND NAME, not both")
	case len(o.files) == 0 && len(args) == 0:
		return usageError(cmd, "you must specify the objects to delete: KIND NAME, KIND/NAME, -f FILE or KIND -l SELECTOR")
	case (o.selector != "" || o.all) && len(args) != 1:
		return usageError(cmd, "with -l or --all, give only the kind, such as 'shoal delete pods -l app=web'")
	case o.selector != "" && o.all:
		return usageError(cmd, "give -l or --all, not both")
	}
	return nil
}

// deleteTargets lists the named objects, from the arguments or from files.
func deleteTargets(cmd *cobra.Command, e *env, o *deleteOptions, args []string) ([]victim, error) {
	if len(o.files) > 0 {
		return victimsFromFiles(o.files, cmd, e.namespace)
	}
	targets, err := parseTargets(args)
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	var out []victim
	for _, t := range targets {
		if len(t.names) == 0 {
			return nil, usageError(cmd, "resource(s) were provided, but no name was specified; use -l to delete by label or --all to delete every %s", t.kind.Resource)
		}
		for _, n := range t.names {
			out = append(out, victim{kind: t.kind, ns: e.namespace, name: n})
		}
	}
	return out, nil
}

func victimsFromFiles(files []string, cmd *cobra.Command, ns string) ([]victim, error) {
	body, err := readManifests(files, cmd.InOrStdin())
	if err != nil {
		return nil, err
	}
	docs, err := api.SplitDocuments(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	var out []victim
	for i, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			return nil, fmt.Errorf("object %d: %w", i+1, err)
		}
		m := d.Object.GetObjectMeta()
		v := victim{kind: d.Kind, ns: ns, name: m.Name}
		if m.Namespace != "" {
			v.ns = m.Namespace
		}
		out = append(out, v)
	}
	return out, nil
}

func deleteEach(cmd *cobra.Command, c *client.Client, victims []victim, opts api.DeleteOptions, ignoreNotFound bool) ([]victim, errorList) {
	var done []victim
	var errs errorList
	for _, v := range victims {
		obj, err := c.Delete(cmd.Context(), v.kind, v.ns, v.name, opts)
		if err != nil {
			if !(ignoreNotFound && api.IsNotFound(err)) {
				errs = append(errs, err)
			}
			if cmd.Context().Err() != nil {
				break
			}
			continue
		}
		if obj != nil {
			v.uid = obj.GetObjectMeta().UID
		}
		v.lingering = obj != nil
		fmt.Fprintf(cmd.OutOrStdout(), "%s %q deleted\n", resourcePrefix(v.kind), v.name)
		done = append(done, v)
	}
	return done, errs
}

func deleteBySelector(cmd *cobra.Command, e *env, c *client.Client, o *deleteOptions, args []string) ([]victim, error) {
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	k, err := lookupKind(args[0])
	if err != nil {
		return nil, usageError(cmd, "%v", err)
	}
	objs, err := c.DeleteCollection(cmd.Context(), k, e.namespace, sel)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		fmt.Fprintln(cmd.ErrOrStderr(), "No resources found")
		return nil, nil
	}
	var done []victim
	for _, obj := range objs {
		m := obj.GetObjectMeta()
		fmt.Fprintf(cmd.OutOrStdout(), "%s %q deleted\n", resourcePrefix(k), m.Name)
		done = append(done, victim{kind: k, ns: m.Namespace, name: m.Name, uid: m.UID, lingering: true})
	}
	return done, nil
}

// waitGone polls until every deleted object is gone, or replaced by a new
// object of the same name.
// On a terminal, a live line on progress (stderr) names the object
// waited for; elsewhere the wait is silent, as kubectl's.
func waitGone(ctx context.Context, c *client.Client, victims []victim, timeout time.Duration, progress io.Writer) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	line := newLiveLine(progress)
	stop := line.animate(ctx)
	defer line.clear()
	defer stop()
	for _, v := range victims {
		if !v.lingering {
			continue
		}
		if line.tty {
			line.update(fmt.Sprintf("waiting for %s/%s to be deleted", v.kind.Resource, v.name))
		}
		if err := waitOneGone(ctx, c, v); err != nil {
			return err
		}
	}
	return nil
}

func waitOneGone(ctx context.Context, c *client.Client, v victim) error {
	delay := 100 * time.Millisecond
	for {
		obj, err := c.Get(ctx, v.kind, v.ns, v.name)
		switch {
		case api.IsNotFound(err):
			return nil
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("timed out waiting for %s/%s to be deleted", v.kind.Resource, v.name)
		case err != nil:
			return err
		case v.uid != "" && obj.GetObjectMeta().UID != v.uid:
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("timed out waiting for %s/%s to be deleted", v.kind.Resource, v.name)
			}
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, time.Second)
	}
}
