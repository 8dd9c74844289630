package engine

import (
	"context"
	"errors"
	"io"
	"time"
)

// Sentinel errors, tested with errors.Is.
var (
	ErrNotFound      = errors.New("engine: no such container or image")
	ErrImageNotFound = errors.New("engine: image not found")
	ErrConflict      = errors.New("engine: name already in use")
	// ErrInUse: the network cannot be changed while containers use it.
	ErrInUse       = errors.New("engine: in use")
	ErrUnavailable = errors.New("engine: engine unreachable")
)

// Labels the agent puts on every container it runs (design section 10).
const (
	LabelPodUID       = "io.shoal.pod.uid"
	LabelPodName      = "io.shoal.pod.name"
	LabelPodNamespace = "io.shoal.pod.namespace"
	LabelContainer    = "io.shoal.container.name"
	// LabelAttempt counts restarts of one pod container, so that the current
	// and the previous instance can be told apart after an agent restart.
	LabelAttempt = "io.shoal.container.attempt"
	// LabelSpecHash records the hash of the container spec it was made from.
	LabelSpecHash = "io.shoal.container.hash"
	// LabelNode names the agent (node) that made the container: an agent
	// only ever touches its own containers, even on a shared engine.
	LabelNode = "io.shoal.node"
	// LabelSandbox is the id of the sandbox an app container was joined to,
	// so that containers left in a dead sandbox's namespace are recognised.
	LabelSandbox = "io.shoal.sandbox.id"
	// SandboxContainerName is the io.shoal.container.name of a pod's sandbox.
	SandboxContainerName = "POD"
)

// Info describes the engine and its host.
type Info struct {
	ID              string
	Name            string
	ServerVersion   string
	APIVersion      string
	NCPU            int
	MemTotal        int64
	KernelVersion   string
	OperatingSystem string
	OSType          string
	Architecture    string
}

// NetworkSpec describes a bridge network. Empty fields are left to the
// engine and match any value of an existing network.
type NetworkSpec struct {
	Name string
	// Subnet and Gateway, e.g. "10.244.1.0/24" and "10.244.1.1".
	Subnet  string
	Gateway string
	// BridgeName is the Linux device of the bridge, e.g. "shoal0".
	BridgeName string
	// Options are driver options, e.g.
	// "com.docker.network.bridge.enable_ip_masquerade": "true".
	Options map[string]string
}

// ImageInfo is what the agent needs of an image's configuration.
type ImageInfo struct {
	ID string
	// User is the image's USER: "", a name or a uid, optionally with
	// ":group".
	User string
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD (exec form;
	// the shell form is stored as ["/bin/sh","-c",...]).
	Entrypoint []string
	Cmd        []string
}

// Mount is a bind mount, a named volume or a tmpfs in a container.
type Mount struct {
	Type     string // "bind", "volume" or "tmpfs"
	Source   string // host path or volume name; empty for tmpfs
	Target   string
	ReadOnly bool
}

// ContainerSpec is everything needed to create one container.
type ContainerSpec struct {
	Name       string
	Image      string
	Entrypoint []string // nil keeps the image's
	Cmd        []string // nil keeps the image's
	Env        []string // KEY=VALUE
	WorkingDir string
	Labels     map[string]string
	User       string
	Hostname   string // only for containers that own their network namespace

	// NetworkMode is "container:<id>" for app containers joined to their
	// sandbox, a network name for the sandbox, "host" or "none".
	NetworkMode string
	// IPCMode and PIDMode, usually "container:<sandbox id>" or "".
	IPCMode string
	PIDMode string
	// DNS settings, for containers that own their network namespace.
	DNS        []string
	DNSSearch  []string
	DNSOptions []string
	// PortBindings maps "80/tcp" to a host port, for the sandbox.
	PortBindings []PortBinding

	Mounts         []Mount
	ReadOnlyRootfs bool
	Privileged     bool
	// CapAdd and CapDrop change the engine's default capability set
	// (names such as NET_ADMIN, or ALL).
	CapAdd  []string
	CapDrop []string
	// SecurityOpt are the engine's security options, e.g.
	// "no-new-privileges", "seccomp=unconfined", "seccomp=<profile JSON>".
	SecurityOpt []string
	// GroupAdd are supplementary groups of the container's process.
	GroupAdd []string
	// ExtraHosts are "name:address" lines the engine adds to the
	// container's /etc/hosts (for a container that owns its network
	// namespace).
	ExtraHosts []string
	// Sysctls are namespaced kernel parameters, for the sandbox.
	Sysctls map[string]string

	// Limits; zero means none.
	NanoCPUs    int64 // CPU quota in billionths of a CPU
	MemoryBytes int64

	OpenStdin bool
	TTY       bool
	// StopSignal and StopTimeout are used by the engine on stop.
	StopSignal string
}

// PortBinding publishes a container port on the host.
type PortBinding struct {
	ContainerPort int
	Protocol      string // "tcp" or "udp"
	HostIP        string
	HostPort      int
}

// State is the inspected state of one container.
type State struct {
	ID         string
	Name       string
	Image      string // as given at create
	ImageID    string
	Labels     map[string]string
	Status     string // created, running, paused, restarting, removing, exited, dead
	Running    bool
	ExitCode   int
	OOMKilled  bool
	Error      string
	StartedAt  time.Time
	FinishedAt time.Time
	// IPAddress is the container's address on an engine network, for
	// sandboxes created by older agents on the engine network "shoal".
	IPAddress string
	// Pid is the container's main process while it runs (0 otherwise): the
	// agent reaches a sandbox's network namespace through it.
	Pid int
	// Health is the engine's healthcheck state, if the image defines one.
	Health string
}

// Summary is one container of a list.
type Summary struct {
	ID      string
	Names   []string
	Image   string
	Labels  map[string]string
	State   string // running, exited, created, ...
	Created time.Time
}

// Event is one container event of the engine's stream.
type Event struct {
	// Action: create, start, die, oom, kill, stop, destroy, health_status: ...
	Action      string
	ContainerID string
	Labels      map[string]string
	ExitCode    string
	Time        time.Time
}

// LogOptions select a container's log lines.
type LogOptions struct {
	Follow     bool
	Timestamps bool
	Tail       string // "all" or a number
	Since      time.Time
}

// ExecConfig describes a command to run in a running container.
type ExecConfig struct {
	Cmd    []string
	Env    []string
	User   string
	Stdin  bool
	Stdout bool
	Stderr bool
	TTY    bool
}

// ExecSession is a running exec. With TTY false the output is demultiplexed
// into the writers given to Stream; with TTY true stdout carries everything.
type ExecSession interface {
	// Stream copies stdin to the process and its output to stdout/stderr until
	// the process ends or ctx is done; then it returns the exit code.
	Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (exitCode int, err error)
	// Resize changes the TTY size.
	Resize(ctx context.Context, width, height uint) error
}

// AttachConfig says which streams of a container's main process to join.
type AttachConfig struct {
	Stdin, Stdout, Stderr bool
}

// AttachSession is an attachment to a running container's main process.
type AttachSession interface {
	// Stream copies stdin to the process and its output to stdout/stderr
	// until the process ends or ctx is done (a detach, not an error).
	Stream(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error
	// Resize changes the container's TTY size.
	Resize(ctx context.Context, width, height uint) error
	// TTY reports whether the container has a terminal: then stdout
	// carries everything.
	TTY() bool
}

// Attacher is the optional ability to join the streams of a running
// container's main process (kubectl attach).
type Attacher interface {
	Attach(ctx context.Context, id string, cfg AttachConfig) (AttachSession, error)
}

// Engine is what the agent needs of a container engine. Every call takes a
// context; callers give each call a timeout.
type Engine interface {
	// Ping asks the engine whether it answers, as cheaply as it can: the
	// agent's health check calls it every few seconds.
	Ping(ctx context.Context) error
	Info(ctx context.Context) (Info, error)

	// ImageExists reports whether ref is present locally.
	ImageExists(ctx context.Context, ref string) (bool, error)
	// InspectImage describes a local image; ErrImageNotFound if absent.
	InspectImage(ctx context.Context, ref string) (ImageInfo, error)
	// PullImage pulls ref from its registry.
	PullImage(ctx context.Context, ref string) error
	// ImportImage creates image ref from a root filesystem tar, with the given
	// Dockerfile-style changes (e.g. `ENTRYPOINT ["/shoal","pause"]`).
	ImportImage(ctx context.Context, rootfsTar io.Reader, ref string, changes []string) error

	// EnsureNetwork makes the bridge network spec.Name match spec and
	// returns its id. It is created when absent. One that differs from spec
	// (subnet, gateway, bridge name or a given option; empty fields match
	// anything) is removed and created again when no container, running or
	// not, is attached to it; otherwise the error wraps ErrInUse and names
	// the attached containers.
	EnsureNetwork(ctx context.Context, spec NetworkSpec) (string, error)
	// RemoveNetwork removes the network name unless a container, running
	// or not, is attached to it (then the error wraps ErrInUse and names
	// them); ErrNotFound when there is none.
	RemoveNetwork(ctx context.Context, name string) error
	// EnsureVolume creates a named volume if absent.
	EnsureVolume(ctx context.Context, name string, labels map[string]string) error

	CreateContainer(ctx context.Context, spec ContainerSpec) (id string, err error)
	StartContainer(ctx context.Context, id string) error
	// StopContainer sends the stop signal, waits up to timeout, then kills.
	StopContainer(ctx context.Context, id string, timeout time.Duration) error
	// RemoveContainer removes a container (forcibly, with its anonymous volumes).
	RemoveContainer(ctx context.Context, id string) error
	InspectContainer(ctx context.Context, id string) (State, error)
	// ListContainers lists containers, stopped ones too, that carry all the
	// given labels (a value of "" matches any value).
	ListContainers(ctx context.Context, labels map[string]string) ([]Summary, error)

	// Events streams container events until ctx is done. The error channel
	// gets one value when the stream breaks; the caller reconnects.
	Events(ctx context.Context) (<-chan Event, <-chan error)

	// Logs returns the container's log stream, already demultiplexed: stdout
	// and stderr lines in order, as plain bytes.
	Logs(ctx context.Context, id string, opts LogOptions) (io.ReadCloser, error)
	// Exec starts a command in a running container.
	Exec(ctx context.Context, id string, cfg ExecConfig) (ExecSession, error)
}

// ImageSummary is one image of the engine's list.
type ImageSummary struct {
	ID          string // sha256:<hex>, the digest of the image's configuration
	RepoTags    []string
	RepoDigests []string
	Size        int64
}

// ImageMover is the optional ability to list, save and load images, with
// which agents move images between hosts (daemon/node/imagemove).
type ImageMover interface {
	ListImages(ctx context.Context) ([]ImageSummary, error)
	// SaveImage streams `docker save` of the given references (IDs or
	// names) as a tar.
	SaveImage(ctx context.Context, refs ...string) (io.ReadCloser, error)
	// LoadImage loads a `docker save` tar; it returns once the engine has
	// read and applied all of it.
	LoadImage(ctx context.Context, tar io.Reader) error
}
