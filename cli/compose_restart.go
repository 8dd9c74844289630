package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// templateOf returns the pod template of a Deployment or DaemonSet.
func templateOf(o api.Object) *api.PodTemplateSpec {
	switch w := o.(type) {
	case *api.Deployment:
		return &w.Spec.Template
	case *api.DaemonSet:
		return &w.Spec.Template
	}
	return nil
}

// carryRestarts keeps the restart stamp (kubectl's restartedAt, which
// rollout restart and restart: true set) of the stored workloads in the
// converted ones: without it, an up of an unchanged file would roll them
// out again.
func carryRestarts(ctx context.Context, c *client.Client, ns string, objs []api.Object) error {
	for _, o := range objs {
		t := templateOf(o)
		if t == nil {
			continue
		}
		live, err := c.Get(ctx, api.KindOf(o), ns, o.GetObjectMeta().Name)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("compose up: read %s: %w", o.GetObjectMeta().Name, err)
		}
		if at, ok := templateOf(live).Annotations[annotationRestartedAt]; ok {
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
		}
	}
	return nil
}

// restartDependents restarts the pods of the services that depend with
// restart: true on a service this up changed, as docker compose restarts
// them after it recreated the dependency. Their new pods wait again, gated,
// until their dependencies hold. A service that changed itself is rolled
// out anyway.
func restartDependents(ctx context.Context, c *client.Client, ns string, objs []api.Object, changed map[string]bool, now time.Time, out io.Writer) error {
	at := now.UTC().Format(time.RFC3339)
	for _, o := range objs {
		svc := compose.ServiceOf(o)
		if templateOf(o) == nil || changed[svc] {
			continue
		}
		var because string
		for _, dep := range compose.RestartsWith(o) {
			if changed[dep] {
				because = dep
				break
			}
		}
		if because == "" {
			continue
		}
		k := api.KindOf(o)
		_, _, err := c.Modify(ctx, k, ns, o.GetObjectMeta().Name, func(live api.Object) (bool, error) {
			t := templateOf(live)
			if t.Annotations == nil {
				t.Annotations = map[string]string{}
			}
			t.Annotations[annotationRestartedAt] = at
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("compose up: restart %s after %s changed: %w", svc, because, err)
		}
		fmt.Fprintf(out, "%s/%s restarted (its dependency %s changed)\n", prefixForKind(k.Kind, k.APIVersion()), o.GetObjectMeta().Name, because)
	}
	return nil
}
