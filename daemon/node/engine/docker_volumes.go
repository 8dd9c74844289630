package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/volume"
)

// VolumeInfo is one volume of the engine.
type VolumeInfo struct {
	Name   string
	Labels map[string]string
}

// VolumeRemover is the optional ability to list and remove named volumes,
// which the agent uses to remove the volumes of claims it was asked to
// remove.
type VolumeRemover interface {
	// ListVolumes lists the engine's volumes whose name starts with prefix.
	ListVolumes(ctx context.Context, prefix string) ([]VolumeInfo, error)
	// RemoveVolume removes a volume; one that is gone already is no error,
	// one a container still uses is ErrInUse.
	RemoveVolume(ctx context.Context, name string) error
}

var _ VolumeRemover = (*Docker)(nil)

// ListVolumes lists the volumes whose name starts with prefix (the engine
// filters by substring; the prefix is checked here).
func (d *Docker) ListVolumes(ctx context.Context, prefix string) ([]VolumeInfo, error) {
	resp, err := d.cli.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("name", prefix))})
	if err != nil {
		return nil, fmt.Errorf("list volumes %s*: %w", prefix, mapErr(err, ErrNotFound))
	}
	var out []VolumeInfo
	for _, v := range resp.Volumes {
		if v != nil && len(v.Name) >= len(prefix) && v.Name[:len(prefix)] == prefix {
			out = append(out, VolumeInfo{Name: v.Name, Labels: v.Labels})
		}
	}
	return out, nil
}

// RemoveVolume removes the named volume, not forcibly: a volume that a
// container uses stays, with ErrInUse.
func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	err := d.cli.VolumeRemove(ctx, name, false)
	if err == nil {
		return nil
	}
	mapped := mapErr(err, ErrNotFound)
	switch {
	case errors.Is(mapped, ErrNotFound):
		return nil
	case errors.Is(mapped, ErrConflict):
		return fmt.Errorf("remove volume %s: %w: %w", name, ErrInUse, mapped)
	}
	return fmt.Errorf("remove volume %s: %w", name, mapped)
}
