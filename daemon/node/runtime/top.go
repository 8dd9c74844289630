package runtime

import (
	"context"
	"fmt"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Top lists the processes of a container of a pod on this node.
func (r *Runtime) Top(ctx context.Context, ns, name, container string) (*api.PodTop, error) {
	pod, id, err := r.findContainer(ctx, ns, name, container, false)
	if err != nil {
		return nil, err
	}
	topper, ok := r.eng.(engine.ContainerTopper)
	if !ok {
		return nil, api.NewUnavailable("this node's engine cannot list a container's processes")
	}
	cctx, cancel := r.engineCtx(ctx)
	defer cancel()
	titles, procs, err := topper.Top(cctx, id)
	if err != nil {
		return nil, api.NewBadRequest(fmt.Sprintf("processes of pod %s: %v (is the container running?)", name, err))
	}
	if container == "" {
		container = pod.Spec.Containers[0].Name
	}
	return &api.PodTop{TypeMeta: api.TypeMeta{Kind: "PodTop", APIVersion: "shoal/v1"}, Pod: name, Container: container,
		Node: r.cfg.NodeName, Titles: titles, Processes: procs}, nil
}
