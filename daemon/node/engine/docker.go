package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/docker/docker/client"
)

// defaultDockerHost is used when neither the caller nor $DOCKER_HOST names one.
const defaultDockerHost = "unix:///var/run/docker.sock"

// Docker drives a Docker Engine through its REST API. It is safe for
// concurrent use.
type Docker struct {
	cli *client.Client
	log *slog.Logger
}

var _ Engine = (*Docker)(nil)

// NewDocker connects to the engine at host ("" means $DOCKER_HOST, else
// unix:///var/run/docker.sock). The API version is negotiated with the engine
// on first use, so older engines (API 1.41) work. No request is made here.
func NewDocker(host string, log *slog.Logger) (*Docker, error) {
	host = resolveDockerHost(host)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cli, err := client.NewClientWithOpts(client.WithHost(host), client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return &Docker{cli: cli, log: log.With("component", "engine", "host", host)}, nil
}

func resolveDockerHost(host string) string {
	if host != "" {
		return host
	}
	if env := os.Getenv("DOCKER_HOST"); env != "" {
		return env
	}
	return defaultDockerHost
}

// Close releases the client's idle connections.
func (d *Docker) Close() error {
	return d.cli.Close()
}

// Ping asks the engine's /_ping endpoint, which answers without touching
// containers or images.
func (d *Docker) Ping(ctx context.Context) error {
	if _, err := d.cli.Ping(ctx); err != nil {
		return fmt.Errorf("engine ping: %w", mapErr(err, ErrNotFound))
	}
	return nil
}

// Info describes the engine and its host.
func (d *Docker) Info(ctx context.Context) (Info, error) {
	info, err := d.cli.Info(ctx)
	if err != nil {
		return Info{}, fmt.Errorf("engine info: %w", mapErr(err, ErrNotFound))
	}
	return Info{
		ID:              info.ID,
		Name:            info.Name,
		ServerVersion:   info.ServerVersion,
		APIVersion:      d.cli.ClientVersion(),
		NCPU:            info.NCPU,
		MemTotal:        info.MemTotal,
		KernelVersion:   info.KernelVersion,
		OperatingSystem: info.OperatingSystem,
		OSType:          info.OSType,
		Architecture:    info.Architecture,
	}, nil
}
