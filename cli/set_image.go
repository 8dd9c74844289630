package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/shoal-dev/shoal/api"
)

// imageUpdate is one CONTAINER=IMAGE argument; container "*" is every one.
type imageUpdate struct {
	container, image string
}

func newSetImageCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "image KIND/NAME... CONTAINER=IMAGE... | image KIND NAME... CONTAINER=IMAGE...",
		Short: "Change the images of a workload's containers",
		Long: `Change the image of containers (and init containers) in the pod template of
Deployments, DaemonSets or ReplicaSets; "*=IMAGE" changes every container.
A Deployment or DaemonSet then rolls the change out; follow it with
"shoal rollout status". A Job's template cannot change once it is created.`,
		Example: `  shoal set image deploy/web web=nginx:1.28
  shoal set image deploy/web web=nginx:1.28 sidecar=envoy:1.31
  shoal set image ds/log-agent '*=fluent-bit:3.1'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSetImage(cmd, e, args)
		},
	}
}

func runSetImage(cmd *cobra.Command, e *env, args []string) error {
	refs, updates, err := setImageArgs(cmd, args)
	if err != nil {
		return err
	}
	c, err := e.client(cmd)
	if err != nil {
		return err
	}
	var errs errorList
	for _, ref := range refs {
		_, written, err := c.Modify(cmd.Context(), ref.kind, e.namespace, ref.name, func(o api.Object) (bool, error) {
			t := podTemplateOf(o)
			if t == nil {
				return false, fmt.Errorf("set image: %s has no pod template", ref)
			}
			return setImages(t, updates, ref)
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Like kubectl, an object that already has the images is left alone
		// and not mentioned.
		if written {
			fmt.Fprintf(cmd.OutOrStdout(), "%s image updated\n", ref)
		}
	}
	return errs.orNil()
}

// setImageArgs splits the arguments into the objects (those without "=")
// and the CONTAINER=IMAGE updates, and refuses kinds whose template is
// not meant to change.
func setImageArgs(cmd *cobra.Command, args []string) ([]objectRef, []imageUpdate, error) {
	var objects []string
	var updates []imageUpdate
	for _, a := range args {
		name, image, ok := strings.Cut(a, "=")
		if !ok {
			objects = append(objects, a)
			continue
		}
		if name == "" || image == "" {
			return nil, nil, usageError(cmd, "%q: an image update is CONTAINER=IMAGE, or *=IMAGE for every container", a)
		}
		updates = append(updates, imageUpdate{container: name, image: image})
	}
	if len(objects) == 0 {
		return nil, nil, usageError(cmd, "name the objects to change, such as deploy/web")
	}
	if len(updates) == 0 {
		return nil, nil, usageError(cmd, "at least one image update is required, such as web=nginx:1.28")
	}
	if targets, err := parseTargets(objects); err == nil {
		for _, t := range targets {
			if t.kind == api.KindJob {
				return nil, nil, fmt.Errorf("cannot set the image of a job: the pod template of a Job cannot change once it is created; delete the job and create it again with the new image")
			}
		}
	}
	refs, err := workloadRefs(cmd, objects, api.KindDeployment, api.KindDaemonSet, api.KindReplicaSet)
	return refs, updates, err
}

// setImages applies the updates to a template and reports whether an image
// changed. A container name that is not in the template is an error.
func setImages(t *api.PodTemplateSpec, updates []imageUpdate, ref objectRef) (bool, error) {
	changed := false
	set := func(c *api.Container, image string) {
		if c.Image != image {
			c.Image = image
			changed = true
		}
	}
	for _, u := range updates {
		found := false
		for _, list := range [][]api.Container{t.Spec.InitContainers, t.Spec.Containers} {
			for i := range list {
				if u.container == "*" || list[i].Name == u.container {
					set(&list[i], u.image)
					found = true
				}
			}
		}
		if !found {
			return false, fmt.Errorf("unable to find container named %q in %s (its containers: %s)", u.container, ref, containerNames(t))
		}
	}
	return changed, nil
}
