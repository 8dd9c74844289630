package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// CreateContainer creates (but does not start) a container. A missing image
// is ErrImageNotFound, a name in use ErrConflict.
func (d *Docker) CreateContainer(ctx context.Context, spec ContainerSpec) (string, error) {
	cfg, host, err := dockerConfigs(spec)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, err)
	}
	start := time.Now()
	resp, err := d.cli.ContainerCreate(ctx, cfg, host, nil, nil, spec.Name)
	d.observe("container_create", start, err)
	if err != nil {
		return "", fmt.Errorf("create container %s: %w", spec.Name, d.createErr(ctx, spec.Image, err))
	}
	for _, w := range resp.Warnings {
		d.log.Debug("engine warning on create", "container", spec.Name, "warning", w)
	}
	return resp.ID, nil
}

// createErr tells a missing image from another missing object (the engine
// answers 404 for both) by asking whether the image is there.
func (d *Docker) createErr(ctx context.Context, image string, err error) error {
	mapped := mapErr(err, ErrNotFound)
	if !errors.Is(mapped, ErrNotFound) {
		return mapped
	}
	if exists, inspectErr := d.ImageExists(ctx, image); inspectErr == nil && !exists {
		return mapErr(err, ErrImageNotFound)
	}
	return mapped
}

// StartContainer starts a created or stopped container; starting a running
// one is not an error.
func (d *Docker) StartContainer(ctx context.Context, id string) error {
	start := time.Now()
	err := d.cli.ContainerStart(ctx, id, container.StartOptions{})
	d.observe("container_start", start, err)
	if err != nil {
		return fmt.Errorf("start container %s: %w", id, mapErr(err, ErrNotFound))
	}
	return nil
}

// StopContainer sends the stop signal and kills the container after timeout,
// rounded up to whole seconds. ctx must outlive the timeout.
func (d *Docker) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	seconds := 0
	if timeout > 0 {
		seconds = int((timeout + time.Second - 1) / time.Second)
	}
	start := time.Now()
	err := d.cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &seconds})
	d.observe("container_stop", start, err)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, mapErr(err, ErrNotFound))
	}
	return nil
}

// RemoveContainer removes a container, running or not, with its anonymous
// volumes. A missing container is ErrNotFound, for callers to ignore.
func (d *Docker) RemoveContainer(ctx context.Context, id string) error {
	opts := container.RemoveOptions{Force: true, RemoveVolumes: true}
	start := time.Now()
	err := d.cli.ContainerRemove(ctx, id, opts)
	d.observe("container_remove", start, err)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, mapErr(err, ErrNotFound))
	}
	return nil
}

// InspectContainer returns the container's current state.
func (d *Docker) InspectContainer(ctx context.Context, id string) (State, error) {
	start := time.Now()
	resp, err := d.cli.ContainerInspect(ctx, id)
	d.observe("container_inspect", start, err)
	if err != nil {
		return State{}, fmt.Errorf("inspect container %s: %w", id, mapErr(err, ErrNotFound))
	}
	return stateFromInspect(resp), nil
}

// ListContainers lists all containers, stopped ones too, that carry every
// given label; a label with the value "" matches any value.
func (d *Docker) ListContainers(ctx context.Context, labels map[string]string) ([]Summary, error) {
	start := time.Now()
	list, err := d.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilters(labels)})
	d.observe("container_list", start, err)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", mapErr(err, ErrNotFound))
	}
	out := make([]Summary, 0, len(list))
	for _, c := range list {
		out = append(out, summaryFromList(c))
	}
	return out, nil
}

func labelFilters(labels map[string]string) filters.Args {
	args := filters.NewArgs()
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if v := labels[k]; v != "" {
			args.Add("label", k+"="+v)
		} else {
			args.Add("label", k)
		}
	}
	return args
}
