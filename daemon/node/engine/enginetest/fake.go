package enginetest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// StopExitCode is the exit code of a container the fake stops: the process
// honoured SIGTERM (128+15).
const StopExitCode = 143

// KillExitCode is the exit code of a container killed by SIGKILL (128+9), as
// after RemoveContainer of a running container or OOMKill.
const KillExitCode = 137

// Script decides how a container behaves once started.
type Script struct {
	// ExitCode is the code the container exits with after RunFor.
	ExitCode int
	// RunFor is how long the container runs; 0 means until stopped or killed.
	RunFor time.Duration
	// StartErr, if set, makes StartContainer fail with it.
	StartErr error
	// CreateErr, if set, makes CreateContainer fail with it.
	CreateErr error
	// Output is appended to the container's log at every start.
	Output string
}

// Fake is an in-memory engine.Engine. Set the XxxFn fields, if any, before the
// fake is used: a non-nil XxxFn replaces the fake's own behaviour for that
// method (the call is still recorded). Everything else is safe for
// concurrent use.
type Fake struct {
	PingFn             func(ctx context.Context) error
	InfoFn             func(ctx context.Context) (engine.Info, error)
	ImageExistsFn      func(ctx context.Context, ref string) (bool, error)
	PullImageFn        func(ctx context.Context, ref string) error
	ImportImageFn      func(ctx context.Context, rootfsTar io.Reader, ref string, changes []string) error
	EnsureNetworkFn    func(ctx context.Context, spec engine.NetworkSpec) (string, error)
	EnsureVolumeFn     func(ctx context.Context, name string, labels map[string]string) error
	CreateContainerFn  func(ctx context.Context, spec engine.ContainerSpec) (string, error)
	StartContainerFn   func(ctx context.Context, id string) error
	StopContainerFn    func(ctx context.Context, id string, timeout time.Duration) error
	RemoveContainerFn  func(ctx context.Context, id string) error
	InspectContainerFn func(ctx context.Context, id string) (engine.State, error)
	ListContainersFn   func(ctx context.Context, labels map[string]string) ([]engine.Summary, error)
	LogsFn             func(ctx context.Context, id string, opts engine.LogOptions) (io.ReadCloser, error)
	ExecFn             func(ctx context.Context, id string, cfg engine.ExecConfig) (engine.ExecSession, error)

	mu          sync.Mutex
	info        engine.Info
	unavailable bool
	hung        chan struct{}    // while not nil, calls wait for it to close
	failing     map[string]error // method -> the error it fails with
	calls       []Call

	images   map[string]bool
	configs  map[string]engine.ImageInfo // image ref -> its USER, ENTRYPOINT and CMD
	registry map[string]bool
	imported map[string]ImportedImage
	networks map[string]fakeNetwork
	volumes  map[string]map[string]string

	containers       map[string]*fakeContainer // by id
	seq              int                       // containers created so far
	nextIP           int
	nextPid          int
	imageScripts     map[string][]Script
	imageScriptUses  map[string]int
	containerScripts map[string]Script // by name or id

	subscribers map[*subscriber]struct{}
}

var _ engine.Engine = (*Fake)(nil)

// New returns an empty fake engine: no images, no containers, a 2-CPU 4 GiB
// host.
func New() *Fake {
	return &Fake{
		info: engine.Info{
			ID: "fake-engine", Name: "fake", ServerVersion: "fake", APIVersion: "1.41",
			NCPU: 2, MemTotal: 4 << 30, KernelVersion: "6.1.0", OperatingSystem: "fake",
			OSType: "linux", Architecture: "x86_64",
		},
		images:           map[string]bool{},
		configs:          map[string]engine.ImageInfo{},
		registry:         map[string]bool{},
		imported:         map[string]ImportedImage{},
		networks:         map[string]fakeNetwork{},
		volumes:          map[string]map[string]string{},
		containers:       map[string]*fakeContainer{},
		nextIP:           2,
		imageScripts:     map[string][]Script{},
		imageScriptUses:  map[string]int{},
		containerScripts: map[string]Script{},
		subscribers:      map[*subscriber]struct{}{},
	}
}

// SetInfo replaces what Info reports.
func (f *Fake) SetInfo(info engine.Info) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.info = info
}

// SetUnavailable makes every method fail with engine.ErrUnavailable (as if
// the engine were down) until called again with false. Going down breaks
// every event stream.
func (f *Fake) SetUnavailable(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unavailable = down
	if down {
		f.breakStreamsLocked(engine.ErrUnavailable)
	}
}

// SetHung makes every call but Events wait, as on an engine that accepts
// connections and never answers, until its context ends (the call then
// fails with the context's error) or SetHung(false) lets it go on.
func (f *Fake) SetHung(hung bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case hung && f.hung == nil:
		f.hung = make(chan struct{})
	case !hung && f.hung != nil:
		close(f.hung)
		f.hung = nil
	}
}

// SetFailing makes every call of method (for example "StopContainer")
// fail with err until called again with a nil err; the calls are still
// recorded. Unlike the XxxFn fields it may be changed while the fake is in
// use.
func (f *Fake) SetFailing(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing == nil {
		f.failing = map[string]error{}
	}
	if err == nil {
		delete(f.failing, method)
		return
	}
	f.failing[method] = err
}

// hold waits while the fake is hung, then fails the call if SetFailing
// asked for it.
func (f *Fake) hold(ctx context.Context, method string) error {
	f.mu.Lock()
	hung := f.hung
	f.mu.Unlock()
	if hung != nil {
		select {
		case <-hung:
		case <-ctx.Done():
			return fmt.Errorf("engine did not answer: %w", ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failing[method]
}

// SetImageScript sets how containers of image behave: the n-th container
// created from it follows scripts[n], and the last script every container
// after that. A container script (SetContainerScript) takes precedence.
func (f *Fake) SetImageScript(image string, scripts ...Script) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ref := normalizeRef(image)
	f.imageScripts[ref] = scripts
	f.imageScriptUses[ref] = 0
}

// SetContainerScript sets how the container with that name or id behaves.
// Set before CreateContainer it also governs CreateErr; set later it applies
// from the next start.
func (f *Fake) SetContainerScript(nameOrID string, s Script) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containerScripts[nameOrID] = s
}

// Ping answers unless the fake is down or hung.
func (f *Fake) Ping(ctx context.Context) error {
	f.record("Ping")
	if err := f.hold(ctx, "Ping"); err != nil {
		return err
	}
	if f.PingFn != nil {
		return f.PingFn(ctx)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downLocked()
}

func (f *Fake) Info(ctx context.Context) (engine.Info, error) {
	f.record("Info")
	if err := f.hold(ctx, "Info"); err != nil {
		return engine.Info{}, err
	}
	if f.InfoFn != nil {
		return f.InfoFn(ctx)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.downLocked(); err != nil {
		return engine.Info{}, err
	}
	return f.info, nil
}

func (f *Fake) downLocked() error {
	if f.unavailable {
		return engine.ErrUnavailable
	}
	return nil
}
