package cli

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// neededImage is an image a service's pods run.
type neededImage struct {
	service, image string
	policy         string
}

// pullMissingImages makes sure, before up applies anything, that every
// image the project's pods run is on some host, as docker compose pulls a
// missing image before it creates a container: an image no host holds is
// pulled from its registry by one ready host (from which the others copy
// it, docs/images.md). An image no host holds and none can pull refuses
// the whole up, naming the service and its image, with nothing created.
// Images the project builds are left to the build; images pulled Always
// are pulled by each host anyway. Nodes that report no images at all (an
// engine that cannot list them) make the check moot: it is skipped.
func pullMissingImages(ctx context.Context, c *client.Client, p *types.Project, objs []api.Object, out io.Writer) error {
	nodes, err := listNodes(ctx, c)
	if err != nil {
		return err
	}
	var ready []string
	reporting := false
	for _, n := range nodes {
		if len(n.Status.Images) > 0 {
			reporting = true
		}
		if nodeReady(n) {
			ready = append(ready, n.Name)
		}
	}
	if !reporting {
		return nil
	}
	sort.Strings(ready)
	built := map[string]bool{}
	builds, err := compose.Builds(p, nil)
	if err != nil {
		return err
	}
	for _, b := range builds {
		built[b.Image] = true
	}
	held := func(image string) bool {
		for _, n := range nodes {
			for _, img := range n.Status.Images {
				if img.Has(image) {
					return true
				}
			}
		}
		return false
	}
	for _, need := range neededImages(objs) {
		switch {
		case built[need.image] || need.policy == api.PullAlways || held(need.image):
			continue
		case need.policy == api.PullNever:
			return fmt.Errorf("compose up: service %s: image %q: no host holds it and its pull_policy (never) forbids pulling it; build or load it on a host first", need.service, need.image)
		case len(ready) == 0:
			return fmt.Errorf("compose up: service %s: image %q: no host holds it and no node is ready to pull it", need.service, need.image)
		}
		fmt.Fprintf(out, "%s: pulling %s (node %s)\n", need.service, need.image, ready[0])
		if _, err := c.RequestImage(ctx, ready[0], api.NodeImageRequest{Image: need.image, Pull: true}); err != nil {
			return fmt.Errorf("compose up: service %s: image %q: %v", need.service, need.image, err) // %v: the service must stay in the message
		}
	}
	return nil
}

// neededImages lists, once each and sorted, the images of the workloads'
// pod templates (init containers too) with the service and pull policy.
func neededImages(objs []api.Object) []neededImage {
	seen := map[string]bool{}
	var out []neededImage
	for _, o := range objs {
		t := templateOfAny(o)
		if t == nil {
			continue
		}
		for _, ct := range append(append([]api.Container(nil), t.Spec.InitContainers...), t.Spec.Containers...) {
			if ct.Image == "" || seen[ct.Image] {
				continue
			}
			seen[ct.Image] = true
			out = append(out, neededImage{service: compose.ServiceName(o), image: ct.Image, policy: ct.ImagePullPolicy})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].image < out[j].image })
	return out
}
