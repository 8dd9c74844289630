package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/jsonpath"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

type waitOptions struct {
	forCond  string
	timeout  time.Duration
	selector string
	all      bool
}

func newWaitCommand(e *env) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait KIND NAME...|KIND/NAME... --for=condition=C[=VALUE]|delete|create|jsonpath='{PATH}'[=VALUE]",
		Short: "Wait until objects meet a condition, are deleted, or a field has a value",
		Example: `  shoal wait --for=condition=Ready pod/web-1
  shoal wait --for=condition=Available deploy/web --timeout=2m
  shoal wait --for=delete pod -l app=web --timeout=60s
  shoal wait --for=jsonpath='{.status.phase}'=Running pod/web-1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWait(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.forCond, "for", "", "what to wait for: delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE] (required)")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "how long to wait; 0 checks once, a negative value waits a week")
	f.StringVarP(&o.selector, "selector", "l", "", "wait for the objects these labels select")
	f.BoolVar(&o.all, "all", false, "wait for every object of the kind in the namespace")
	return cmd
}

// waitCheck tells whether an object (nil when it does not exist) meets
// the condition, and describes what it sees while it does not.
type waitCheck struct {
	desc  string
	check func(obj api.Object) (met bool, now string, err error)
}

// parseWaitFor reads --for as kubectl does.
func parseWaitFor(s string) (*waitCheck, error) {
	switch {
	case s == "":
		return nil, fmt.Errorf("--for is required: delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]")
	case s == "delete":
		return &waitCheck{desc: "deletion", check: func(obj api.Object) (bool, string, error) {
			return obj == nil, "exists", nil
		}}, nil
	case s == "create":
		return &waitCheck{desc: "creation", check: func(obj api.Object) (bool, string, error) {
			return obj != nil, "not found", nil
		}}, nil
	case strings.HasPrefix(s, "condition="):
		return conditionCheck(strings.TrimPrefix(s, "condition="))
	case strings.HasPrefix(s, "jsonpath="):
		return jsonPathCheck(strings.TrimPrefix(s, "jsonpath="))
	}
	return nil, fmt.Errorf("--for %q is not known: use delete, create, condition=NAME[=VALUE] or jsonpath='{PATH}'[=VALUE]", s)
}

func conditionCheck(spec string) (*waitCheck, error) {
	name, want, hasValue := strings.Cut(spec, "=")
	if name == "" {
		return nil, fmt.Errorf("--for condition= needs the condition's type, such as condition=Ready")
	}
	if !hasValue {
		want = "True"
	}
	return &waitCheck{desc: "condition " + spec, check: func(obj api.Object) (bool, string, error) {
		if obj == nil {
			return false, "not found", nil
		}
		var doc struct {
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		}
		data, err := json.Marshal(obj)
		if err == nil {
			err = json.Unmarshal(data, &doc)
		}
		if err != nil {
			return false, "", fmt.Errorf("reading the conditions: %w", err)
		}
		for _, c := range doc.Status.Conditions {
			if strings.EqualFold(c.Type, name) {
				return strings.EqualFold(c.Status, want), name + "=" + c.Status, nil
			}
		}
		return false, "no condition " + name, nil
	}}, nil
}

func jsonPathCheck(spec string) (*waitCheck, error) {
	expr, want, hasValue := spec, "", false
	if i := strings.LastIndex(spec, "}"); i >= 0 && i+1 < len(spec) {
		if spec[i+1] != '=' {
			return nil, fmt.Errorf("--for jsonpath=%s: write the value after '=', as jsonpath='{.status.phase}'=Running", spec)
		}
		expr, want, hasValue = spec[:i+1], spec[i+2:], true
	}
	if !strings.HasPrefix(expr, "{") {
		expr = "{" + expr + "}"
	}
	jp := jsonpath.New("wait").AllowMissingKeys(true)
	if err := jp.Parse(expr); err != nil {
		return nil, fmt.Errorf("--for jsonpath=%s: %v", spec, err)
	}
	return &waitCheck{desc: "jsonpath " + spec, check: func(obj api.Object) (bool, string, error) {
		if obj == nil {
			return false, "not found", nil
		}
		var doc any
		data, err := json.Marshal(obj)
		if err == nil {
			err = json.Unmarshal(data, &doc)
		}
		if err != nil {
			return false, "", fmt.Errorf("reading the object: %w", err)
		}
		results, err := jp.FindResults(doc)
		if err != nil {
			return false, "", fmt.Errorf("--for jsonpath=%s: %v", spec, err)
		}
		var found []string
		for _, rs := range results {
			for _, v := range rs {
				found = append(found, valueText(v))
			}
		}
		if len(found) == 0 {
			return false, expr + " not set", nil
		}
		now := expr + "=" + strings.Join(found, ",")
		if !hasValue {
			return true, now, nil
		}
		for _, f := range found {
			if f != want {
				return false, now, nil
			}
		}
		return true, now, nil
	}}, nil
}

func valueText(v reflect.Value) string {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return ""
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.String {
		return v.String()
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return string(b)
}

func runWait(cmd *cobra.Command, e *env, o *waitOptions, args []string) error {
	wc, err := parseWaitFor(o.forCond)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	sel, err := api.ParseSelector(o.selector)
	if err != nil {
		return usageError(cmd, "--selector: %v", err)
	}
	bulk := o.all || o.selector != ""
	targets, err := parseTargets(args)
	if err != nil {
		return usageError(cmd, "%v", err)
	}
	for _, t := range targets {
		if bulk == (len(t.names) > 0) {
			return usageError(cmd, "name the %s to wait for (such as %s/NAME), or choose them with --selector or --all", t.kind.Resource, resourcePrefix(t.kind))
		}
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	timeout := o.timeout
	if timeout < 0 {
		timeout = 7 * 24 * time.Hour
	}
	ctx := cmd.Context()
	wctx, cancel := context.WithTimeout(ctx, max(timeout, time.Millisecond))
	defer cancel()
	refs, err := resolveRefs(wctx, c, targets, e.namespace, sel, bulk)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("no matching resources found")
	}
	line := newLiveLine(cmd.ErrOrStderr())
	stop := line.animate(wctx)
	defer stop()
	for _, ref := range refs {
		err := waitFor(wctx, c, ref, e.namespace, wc, o.timeout == 0, func(now string) {
			line.update(fmt.Sprintf("waiting for %s: %s (now %s)", ref, wc.desc, now))
		})
		line.clear()
		switch {
		case err == nil:
			fmt.Fprintf(cmd.OutOrStdout(), "%s condition met\n", ref)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, errCheckedOnce) || errors.Is(wctx.Err(), context.DeadlineExceeded):
			return fmt.Errorf("timed out waiting for the condition on %s/%s", ref.kind.Resource, ref.name)
		default:
			return err
		}
	}
	return nil
}

var errCheckedOnce = errors.New("condition not met")

// waitFor reads the object, then follows its changes until check is met.
// A watch that ends (an agent closing idle streams) resumes from a new read.
func waitFor(ctx context.Context, c *client.Client, ref objectRef, ns string, wc *waitCheck, once bool, progress func(string)) error {
	opts := api.ListOptions{}
	fs, err := api.ParseFieldSelector(ref.kind, "metadata.name="+ref.name)
	if err != nil {
		return err
	}
	opts.FieldSelector = fs
	for {
		// A list (not a get) gives the position to watch from even when
		// the object does not exist yet.
		objs, rv, err := c.List(ctx, ref.kind, ns, opts)
		if err != nil {
			return err
		}
		obj := findNamed(objs, ref.name)
		met, now, err := wc.check(obj)
		if met || err != nil {
			return err
		}
		if once {
			return errCheckedOnce
		}
		progress(now)
		opts.ResourceVersion = rv
		done, err := watchUntil(ctx, c, ref, ns, opts, wc, progress)
		opts.ResourceVersion = ""
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func watchUntil(ctx context.Context, c *client.Client, ref objectRef, ns string, opts api.ListOptions, wc *waitCheck, progress func(string)) (bool, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Watch(wctx, ref.kind, ns, opts)
	if err != nil {
		return false, err
	}
	for ev := range ch {
		if client.EventError(ev) != nil {
			return false, nil // read again
		}
		if ev.Type == api.Bookmark || ev.Object.GetObjectMeta().Name != ref.name {
			continue
		}
		obj := ev.Object
		if ev.Type == api.Deleted {
			obj = nil
		}
		met, now, err := wc.check(obj)
		if met || err != nil {
			return met, err
		}
		progress(now)
	}
	return false, ctx.Err()
}
