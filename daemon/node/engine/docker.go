package engine

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"
)

// defaultDockerHost is used when neither the caller nor $DOCKER_HOST names one.
const defaultDockerHost = "unix:///var/run/docker.sock"

// Docker drives a Docker Engine through its REST API. It is safe for
// concurrent use.
type Docker struct {
	cli *client.Client
	log *slog.Logger
	obs Observer
}

// Observer is told of the engine calls a Docker makes, for the agent's
// metrics: the operation (a fixed name such as "container_create"), how
// long it took, and whether it failed for another reason than a missing
// object. It must not block.
type Observer interface {
	ObserveEngineCall(operation string, took time.Duration, failed bool)
}

// SetObserver has o told of the calls to the engine from now on; set it
// before the Docker is shared.
func (d *Docker) SetObserver(o Observer) { d.obs = o }

// observe reports one call to the Observer.
func (d *Docker) observe(op string, start time.Time, err error) {
	if d.obs != nil {
		d.obs.ObserveEngineCall(op, time.Since(start), err != nil && !cerrdefs.IsNotFound(err))
	}
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
	start := time.Now()
	_, err := d.cli.Ping(ctx)
	d.observe("ping", start, err)
	if err != nil {
		return fmt.Errorf("engine ping: %w", mapErr(err, ErrNotFound))
	}
	return nil
}

// Info describes the engine and its host.
func (d *Docker) Info(ctx context.Context) (Info, error) {
	start := time.Now()
	info, err := d.cli.Info(ctx)
	d.observe("info", start, err)
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
