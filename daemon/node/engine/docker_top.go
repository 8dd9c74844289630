package engine

import (
	"context"
	"fmt"
)

// ContainerTopper is the optional ability to list the processes of a
// running container.
type ContainerTopper interface {
	// Top lists the container's processes: the column titles, and one row
	// of values per process.
	Top(ctx context.Context, id string) (titles []string, processes [][]string, err error)
}

var _ ContainerTopper = (*Docker)(nil)

// Top asks the engine for the container's processes, with ps's default
// columns.
func (d *Docker) Top(ctx context.Context, id string) ([]string, [][]string, error) {
	resp, err := d.cli.ContainerTop(ctx, id, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("top of container %s: %w", id, mapErr(err, ErrNotFound))
	}
	return resp.Titles, resp.Processes, nil
}
