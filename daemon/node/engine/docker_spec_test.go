package engine

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

func TestDockerConfigsMapsEveryField(t *testing.T) {
	spec := ContainerSpec{
		Name: "web", Image: "nginx:1", Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve"},
		Env: []string{"A=1"}, WorkingDir: "/srv", Labels: map[string]string{"k": "v"},
		User: "1000:1000", Hostname: "pod-a", NetworkMode: "shoal0", IPCMode: "shareable", PIDMode: "container:abc",
		DNS: []string{"10.0.0.10"}, DNSSearch: []string{"ns.svc.cluster.local"}, DNSOptions: []string{"ndots:5"},
		PortBindings: []PortBinding{
			{ContainerPort: 80, HostPort: 30080},
			{ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1", HostPort: 5353},
		},
		Mounts: []Mount{
			{Type: "bind", Source: "/data", Target: "/data", ReadOnly: true},
			{Type: "volume", Source: "db", Target: "/var/lib/db"},
			{Type: "tmpfs", Target: "/run/secrets"},
		},
		ReadOnlyRootfs: true, Privileged: true, NanoCPUs: 1_500_000_000, MemoryBytes: 256 << 20,
		OpenStdin: true, TTY: true, StopSignal: "SIGQUIT",
		CapAdd: []string{"NET_ADMIN"}, CapDrop: []string{"ALL"}, SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined"},
		GroupAdd: []string{"2000"}, Sysctls: map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"},
		ExtraHosts: []string{"pod-a:10.244.0.5"},
	}
	cfg, host, err := dockerConfigs(spec)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"image", cfg.Image, "nginx:1"},
		{"entrypoint", fmt.Sprint(cfg.Entrypoint), "[/bin/app]"},
		{"cmd", fmt.Sprint(cfg.Cmd), "[serve]"},
		{"env", fmt.Sprint(cfg.Env), "[A=1]"},
		{"workdir", cfg.WorkingDir, "/srv"},
		{"labels", cfg.Labels["k"], "v"},
		{"user", cfg.User, "1000:1000"},
		{"hostname", cfg.Hostname, "pod-a"},
		{"tty", cfg.Tty, true},
		{"open stdin", cfg.OpenStdin, true},
		{"attach stdin", cfg.AttachStdin, true},
		{"stdin once", cfg.StdinOnce, false},
		{"stop signal", cfg.StopSignal, "SIGQUIT"},
		{"exposed ports", len(cfg.ExposedPorts), 2},
		{"network", host.NetworkMode, container.NetworkMode("shoal0")},
		{"ipc", host.IpcMode, container.IpcMode("shareable")},
		{"pid", host.PidMode, container.PidMode("container:abc")},
		{"cap add", fmt.Sprint(host.CapAdd), "[NET_ADMIN]"},
		{"cap drop", fmt.Sprint(host.CapDrop), "[ALL]"},
		{"security options", fmt.Sprint(host.SecurityOpt), "[no-new-privileges seccomp=unconfined]"},
		{"groups", fmt.Sprint(host.GroupAdd), "[2000]"},
		{"sysctls", host.Sysctls["net.ipv4.ip_unprivileged_port_start"], "80"},
		{"extra hosts", fmt.Sprint(host.ExtraHosts), "[pod-a:10.244.0.5]"},
		{"dns", fmt.Sprint(host.DNS, host.DNSSearch, host.DNSOptions), "[10.0.0.10] [ns.svc.cluster.local] [ndots:5]"},
		{"port 80", fmt.Sprint(host.PortBindings[nat.Port("80/tcp")]), "[{ 30080}]"},
		{"port 53", fmt.Sprint(host.PortBindings[nat.Port("53/udp")]), "[{127.0.0.1 5353}]"},
		{"read-only rootfs", host.ReadonlyRootfs, true},
		{"privileged", host.Privileged, true},
		{"cpus", host.NanoCPUs, int64(1_500_000_000)},
		{"memory", host.Memory, int64(256 << 20)},
		{"restart policy", host.RestartPolicy.Name, container.RestartPolicyMode("")},
		{"log driver", host.LogConfig.Type, ""},
		{"mounts", fmt.Sprint(host.Mounts), fmt.Sprint([]mount.Mount{
			{Type: mount.TypeBind, Source: "/data", Target: "/data", ReadOnly: true},
			{Type: mount.TypeVolume, Source: "db", Target: "/var/lib/db"},
			{Type: mount.TypeTmpfs, Target: "/run/secrets"},
		})},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestDockerConfigsKeepsImageDefaults(t *testing.T) {
	cfg, _, err := dockerConfigs(ContainerSpec{Image: "busybox"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Entrypoint != nil || cfg.Cmd != nil {
		t.Fatalf("entrypoint %v, cmd %v: want nil to keep the image's", cfg.Entrypoint, cfg.Cmd)
	}
	// An explicitly empty entrypoint is passed on: it clears the image's.
	cfg, _, _ = dockerConfigs(ContainerSpec{Image: "busybox", Entrypoint: []string{}})
	if cfg.Entrypoint == nil {
		t.Fatal("empty entrypoint dropped")
	}
}

func TestDockerConfigsRejectsUnknownMount(t *testing.T) {
	_, _, err := dockerConfigs(ContainerSpec{Mounts: []Mount{{Type: "nfs", Target: "/x"}}})
	if err == nil || !strings.Contains(err.Error(), "/x") {
		t.Fatalf("err = %v, want an error naming the mount", err)
	}
}

func TestStateFromInspect(t *testing.T) {
	resp := container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{
			ID: "abc", Name: "/web", Image: "sha256:123",
			State: &container.State{
				Status: "exited", ExitCode: 2, OOMKilled: true, Error: "boom",
				StartedAt:  "2024-05-01T10:00:00.123456789Z",
				FinishedAt: "0001-01-01T00:00:00Z",
				Health:     &container.Health{Status: "unhealthy"},
			},
		},
		Config: &container.Config{Image: "nginx:1", Labels: map[string]string{"a": "b"}},
		NetworkSettings: &container.NetworkSettings{Networks: map[string]*network.EndpointSettings{
			"zeta":  {IPAddress: "10.0.1.5"},
			"alpha": {IPAddress: "10.0.0.5"},
			"empty": {},
		}},
	}
	st := stateFromInspect(resp)
	want := time.Date(2024, 5, 1, 10, 0, 0, 123456789, time.UTC)
	if st.ID != "abc" || st.Name != "web" || st.Image != "nginx:1" || st.ImageID != "sha256:123" ||
		st.Status != "exited" || st.Running || st.ExitCode != 2 || !st.OOMKilled || st.Error != "boom" ||
		!st.StartedAt.Equal(want) || !st.FinishedAt.IsZero() || st.Health != "unhealthy" ||
		st.Labels["a"] != "b" || st.IPAddress != "10.0.0.5" {
		t.Fatalf("state = %+v", st)
	}

	// A process that exits at once: the engine's exit stamp can precede its
	// start stamp; the state never shows a finish before the start.
	resp.State.FinishedAt = "2024-05-01T10:00:00.123450000Z"
	if st := stateFromInspect(resp); !st.FinishedAt.Equal(want) {
		t.Fatalf("finished = %v, want clamped to the start %v", st.FinishedAt, want)
	}

	legacy := container.InspectResponse{NetworkSettings: &container.NetworkSettings{}}
	legacy.NetworkSettings.IPAddress = "172.17.0.2"
	if got := stateFromInspect(legacy).IPAddress; got != "172.17.0.2" {
		t.Fatalf("legacy IP = %q", got)
	}
}

func TestEventFromMessage(t *testing.T) {
	ev := eventFromMessage(events.Message{
		Type: events.ContainerEventType, Action: "health_status: healthy",
		Actor:    events.Actor{ID: "abc", Attributes: map[string]string{"exitCode": "137", LabelPodName: "p"}},
		TimeNano: 1_700_000_000_123_000_000,
	})
	if ev.Action != "health_status: healthy" || ev.ContainerID != "abc" || ev.ExitCode != "137" ||
		ev.Labels[LabelPodName] != "p" || ev.Time.UnixNano() != 1_700_000_000_123_000_000 {
		t.Fatalf("event = %+v", ev)
	}
}

func TestLabelFilters(t *testing.T) {
	args := labelFilters(map[string]string{"b": "", "a": "1"})
	if got := fmt.Sprint(args.Get("label")); got != "[a=1 b]" && got != "[b a=1]" {
		t.Fatalf("label filters = %s", got)
	}
}

// Errors shaped like the SDK's: the engine's classes are marker methods.
type notFoundErr struct{}

func (notFoundErr) Error() string { return "No such container: x" }
func (notFoundErr) NotFound()     {}

type conflictErr struct{}

func (conflictErr) Error() string { return "name in use" }
func (conflictErr) Conflict()     {}

type unavailableErr struct{}

func (unavailableErr) Error() string { return "engine shutting down" }
func (unavailableErr) Unavailable()  {}

func TestMapErr(t *testing.T) {
	cases := []struct {
		err      error
		notFound error
		want     error
	}{
		{notFoundErr{}, ErrNotFound, ErrNotFound},
		{notFoundErr{}, ErrImageNotFound, ErrImageNotFound},
		{fmt.Errorf("wrapped: %w", conflictErr{}), ErrNotFound, ErrConflict},
		{unavailableErr{}, ErrNotFound, ErrUnavailable},
	}
	for _, c := range cases {
		got := mapErr(c.err, c.notFound)
		if !errors.Is(got, c.want) || !errors.Is(got, c.err) {
			t.Errorf("mapErr(%v) = %v, want both %v and the cause", c.err, got, c.want)
		}
		if got.Error() != c.err.Error() {
			t.Errorf("message %q, want the engine's %q", got, c.err)
		}
	}
	plain := errors.New("something else")
	if got := mapErr(plain, ErrNotFound); got != plain {
		t.Errorf("unclassified error changed to %v", got)
	}
	if mapErr(nil, ErrNotFound) != nil {
		t.Error("nil error mapped to non-nil")
	}
}

func TestDrainProgress(t *testing.T) {
	ok := `{"status":"Pulling"}` + "\n" + `{"status":"Done"}`
	if err := drainProgress(strings.NewReader(ok)); err != nil {
		t.Fatalf("clean stream: %v", err)
	}
	failed := `{"status":"Pulling"}{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`
	if err := drainProgress(strings.NewReader(failed)); err == nil || err.Error() != "manifest unknown" {
		t.Fatalf("failed stream: %v", err)
	}
	if err := drainProgress(io.MultiReader(strings.NewReader(`{"status":`))); err == nil {
		t.Fatal("truncated stream accepted")
	}
}

func TestResolveDockerHost(t *testing.T) {
	t.Setenv("DOCKER_HOST", "")
	if got := resolveDockerHost(""); got != "unix:///var/run/docker.sock" {
		t.Fatalf("default host = %q", got)
	}
	t.Setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
	if got := resolveDockerHost(""); got != "tcp://10.0.0.1:2375" {
		t.Fatalf("host from env = %q", got)
	}
	if got := resolveDockerHost("unix:///run/x.sock"); got != "unix:///run/x.sock" {
		t.Fatalf("explicit host = %q", got)
	}
}
