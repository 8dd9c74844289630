package runtime

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/events"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/podnet"
	"github.com/shoal-dev/shoal/gossip"
)

// Store is what the runner needs of the object store.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Watch(ctx context.Context, k *api.Kind, ns string, opts api.ListOptions) (<-chan api.WatchEvent, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
	Delete(ctx context.Context, k *api.Kind, ns, name string, opts api.DeleteOptions) (api.Object, error)
}

// Config sets up the runner.
type Config struct {
	NodeName string
	// HostIP is the node's address, reported as the pods' hostIP.
	HostIP string
	// SandboxImage is the image of the pod sandbox container.
	SandboxImage string
	// Network is the engine network sandboxes attach to when Wiring is
	// nil (tests of the runner alone).
	Network string
	// Wiring, when set, connects sandboxes (created with the engine's
	// network mode "none") to the pod network and keeps the pods'
	// addresses; HostPorts, when set, publishes their hostPorts.
	Wiring    PodWiring
	HostPorts HostPortPublisher
	// HostsEntry, when set, adds the pod's address and host name to the
	// hosts file of a sandbox the Wiring has just wired, which the engine
	// writes without them on network mode "none" (sandbox.AddHostsEntry).
	HostsEntry func(pid int, ip netip.Addr, hostname string) error
	// WakeGate, when set, wakes the network gate of a pod without a
	// sandbox once the pod is wired (sandbox.WakeNetWait); without it the
	// gate finds the wiring by itself within 20 ms.
	WakeGate func(pid int)
	// NetWaitPath is the host path of the network gate
	// (sandbox.NetWait): pods of one container run without a sandbox,
	// their container started through the gate. "": every pod has a
	// sandbox.
	NetWaitPath string
	// DataDir holds per-pod volume directories.
	DataDir string
	// DNSServers are the name servers of pods that use the cluster DNS
	// (nil or empty: the engine's). A function: they move with the node's
	// pod subnet.
	DNSServers func() []string
	DNSSearch  func(ns string) []string
	// ResyncPeriod is how often every pod is checked even without events,
	// and how often the runner compares the pods bound here in the store
	// and the containers on the engine with what it runs.
	ResyncPeriod time.Duration
	// EngineTimeout bounds each engine call (a stop gets the pod's grace
	// period on top, a pull PullTimeout).
	EngineTimeout time.Duration
	// PullTimeout bounds one image pull.
	PullTimeout time.Duration
	// Backoff is the crash-loop back-off policy.
	Backoff BackoffPolicy
	// Peers, when set, is asked first for an image the engine lacks and
	// the pull policy lets the runner pull: another node's copy, moved
	// without a registry (daemon/node/imagemove).
	Peers PeerImages
	// Tokens, when set, signs the service-account tokens mounted into
	// pods at ServiceAccountDir; nil mounts none.
	Tokens TokenSource
	// APIServiceHost is the address of the kubernetes Service, given to
	// every container as KUBERNETES_SERVICE_HOST (port 443) as the kubelet
	// does, for clients' in-cluster configuration; "": none.
	APIServiceHost string
	// Observer, when set, is told of pod starts and container restarts.
	Observer Observer
}

// Observer is told of what the runner did, for the agent's metrics. It
// must not block: it runs on the pod workers.
type Observer interface {
	// PodStarted: a pod reached phase Running, took after its worker
	// started.
	PodStarted(took time.Duration)
	// ContainerRestarted: a container that had ended was started again.
	ContainerRestarted()
	// PodStartStep: one step of a pod's first start took this long (see
	// the Step constants), observed until the pod first runs.
	PodStartStep(step string, took time.Duration)
}

// Steps of a pod's first start, as PodStartStep names them, in order.
const (
	StepSandboxCreate = "sandbox_create"  // create the sandbox container
	StepSandboxStart  = "sandbox_start"   // start it
	StepSandboxInfo   = "sandbox_inspect" // read its process id
	StepWire          = "wire"            // veth, address, routes, host ports
	StepVolumes       = "volumes"         // prepare the pod's volumes
	StepImage         = "image"           // the app images present (or pulled)
	StepAppCreate     = "app_create"      // create the app containers
	StepAppStart      = "app_start"       // start them
	StepStatus        = "status"          // write the Running status
)

// PodWiring connects pod sandboxes to the node's pod network and keeps
// their addresses (podnet.BridgeWiring, podnet.SimulatedWiring).
type PodWiring interface {
	// Attach gives the sandbox whose main process is pid the pod's
	// interface and address (the one it had, if any) and returns it.
	Attach(ctx context.Context, uid string, pid int) (netip.Addr, error)
	// Reserve gives the pod an address (the one it holds, if any) before
	// anything of it runs: a pod without a sandbox needs it at its
	// container's create, and keeps it across the container's restarts.
	Reserve(uid string) (netip.Addr, error)
	// Address is the pod's address, if it holds one.
	Address(uid string) (netip.Addr, bool)
	// Adopt records the address an engine network gave a sandbox.
	Adopt(uid string, ip netip.Addr) error
	// Detach removes the pod's interface and frees its address.
	Detach(ctx context.Context, uid string) error
	// Cleanup removes the interfaces and frees the addresses of pods keep
	// refuses.
	Cleanup(ctx context.Context, keep func(uid string) bool) error
}

// HostPortPublisher publishes the hostPorts of pods whose sandboxes the
// engine does not publish (podnet.HostPorts).
type HostPortPublisher interface {
	Set(ctx context.Context, uid string, ip netip.Addr, ports []podnet.HostPort) error
	Remove(ctx context.Context, uid string) error
}

// TokenSource signs service-account tokens for this node's pods.
type TokenSource interface {
	// Token signs a token for pod, returning it and when it expires.
	Token(pod *api.Pod, now time.Time) (string, time.Time, error)
	// CA is the PEM of the cluster's roots, which the API's certificates
	// chain to.
	CA() []byte
}

// PeerImages fetches images from the engines of other nodes.
type PeerImages interface {
	// FetchFromPeer makes the engine hold ref, copied from another node,
	// and names that node; "" and no error when no other node holds it.
	FetchFromPeer(ctx context.Context, ref string) (from string, err error)
	// CopiedFrom names, once, the node an image present here was copied
	// from before the runner asked (a prefetch), with how long it took;
	// "" when it was not.
	CopiedFrom(ref string) (from string, took time.Duration)
}

// Runtime runs the pods bound to one node.
type Runtime struct {
	cfg   Config
	eng   engine.Engine
	store Store
	rec   events.Sink
	log   *slog.Logger

	// present remembers images and volumes known to exist, so that 30 new
	// pods of one image ask the engine once, not 30 times.
	present presence
	// images caches images' configurations: the ENTRYPOINT and CMD the
	// gate of a pod without a sandbox runs, the USER runAsNonRoot checks.
	images imageInfos

	// reapQueue holds containers of finished pods waiting to be removed.
	reapQueue chan string
	// housekeep wakes the housekeeper: orphan collection and the
	// comparison of the store's pods with the workers, off the event loop.
	housekeep chan struct{}
	// engineBack tells the engine event follower to reconnect at once: the
	// engine answers again, and its old stream may hang.
	engineBack chan struct{}

	mu      sync.Mutex
	workers map[string]*podWorker // by pod uid
	wg      sync.WaitGroup
	synced  bool // the first full list of pods has been handled
}

// New makes a runner.
func New(cfg Config, eng engine.Engine, store Store, rec events.Sink, log *slog.Logger) *Runtime {
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = 10 * time.Second
	}
	if cfg.EngineTimeout <= 0 {
		cfg.EngineTimeout = DefaultEngineTimeout
	}
	if cfg.PullTimeout <= 0 {
		cfg.PullTimeout = DefaultPullTimeout
	}
	if cfg.Backoff == (BackoffPolicy{}) {
		cfg.Backoff = DefaultBackoff
	}
	return &Runtime{cfg: cfg, eng: eng, store: store, rec: rec, log: log.With("component", "runtime"),
		workers: map[string]*podWorker{}, present: presence{seen: map[string]time.Time{}},
		images:    imageInfos{seen: map[string]imageInfo{}},
		reapQueue: make(chan string, 4096), housekeep: make(chan struct{}, 1), engineBack: make(chan struct{}, 1)}
}

// Engine call bounds: an engine that does not answer a container call
// within DefaultEngineTimeout is treated as failing (the call is retried
// with back-off); pulls of large images take longer.
const (
	DefaultEngineTimeout = 30 * time.Second
	DefaultPullTimeout   = 10 * time.Minute
)

// Run runs pods until ctx ends. Ending leaves every container running: only
// the deletion of a pod stops its containers.
func (r *Runtime) Run(ctx context.Context) error {
	defer r.wg.Wait()
	events := make(chan engine.Event, 256)
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		r.followEngine(ctx, events)
	}()
	go func() {
		defer r.wg.Done()
		r.reaper(ctx)
	}()
	go func() {
		defer r.wg.Done()
		r.housekeeper(ctx)
	}()
	for {
		err := r.followPods(ctx, events)
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("pod watch ended; listing again", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// followPods lists this node's pods, then follows their changes, engine
// events and the resync timer until the watch breaks. It never calls the
// engine: workers, the reaper and the housekeeper do, so that a slow or
// hung engine delays no pod event.
func (r *Runtime) followPods(ctx context.Context, events <-chan engine.Event) error {
	pods, rv, err := r.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := r.store.Watch(wctx, api.KindPod, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	// ConfigMaps and Secrets: a change reaches mounted files (and pods
	// waiting for a missing one) at once rather than at the next resync.
	configs, err := r.store.Watch(wctx, api.KindConfigMap, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch configmaps: %w", err)
	}
	secrets, err := r.store.Watch(wctx, api.KindSecret, "", api.ListOptions{ResourceVersion: rv})
	if err != nil {
		return fmt.Errorf("watch secrets: %w", err)
	}
	known := map[string]bool{}
	for _, o := range pods {
		p := o.(*api.Pod)
		if p.Spec.NodeName == r.cfg.NodeName {
			known[p.UID] = true
			r.dispatch(ctx, p, false)
		}
	}
	// Workers of pods that disappeared while the watch was down.
	r.mu.Lock()
	for uid, w := range r.workers {
		if !known[uid] {
			w.update(nil, true)
		}
	}
	r.synced = true
	r.mu.Unlock()
	resync := time.NewTicker(r.cfg.ResyncPeriod)
	defer resync.Stop()
	r.kickHousekeeper()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watch:
			if !ok {
				return errors.New("watch closed")
			}
			p, isPod := ev.Object.(*api.Pod)
			if !isPod {
				continue
			}
			switch {
			case ev.Type == api.Deleted:
				r.dispatch(ctx, p, true)
			case p.Spec.NodeName == r.cfg.NodeName:
				r.dispatch(ctx, p, false)
			default:
				// Bound elsewhere now (or not yet bound): not ours.
				r.mu.Lock()
				if w := r.workers[p.UID]; w != nil {
					w.update(nil, true)
				}
				r.mu.Unlock()
			}
		case ev, ok := <-configs:
			if !ok {
				return errors.New("configmap watch closed")
			}
			r.pokeUsers(ev.Object)
		case ev, ok := <-secrets:
			if !ok {
				return errors.New("secret watch closed")
			}
			r.pokeUsers(ev.Object)
		case ev := <-events:
			r.onEngineEvent(ev)
		case <-resync.C:
			r.pokeAll()
			r.kickHousekeeper()
		}
	}
}

// pokeAll wakes every worker.
func (r *Runtime) pokeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		w.poke()
	}
}

// EngineRecovered tells the runner that the engine answers again after an
// outage: every worker syncs at once (their back-off was for the outage),
// the engine's event stream is opened anew, and the housekeeper compares
// the engine's containers with the workers. A restarted engine may have
// stopped containers; the workers find out and start them again, adopting
// what runs rather than starting anything twice.
func (r *Runtime) EngineRecovered() {
	select {
	case r.engineBack <- struct{}{}:
	default:
	}
	r.pokeAll()
	r.kickHousekeeper()
}

// dispatch hands the pod's latest state to its worker, starting one if needed.
func (r *Runtime) dispatch(ctx context.Context, p *api.Pod, deleted bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dispatchLocked(ctx, p, deleted)
}

// dispatchLocked is dispatch with r.mu held.
func (r *Runtime) dispatchLocked(ctx context.Context, p *api.Pod, deleted bool) {
	w := r.workers[p.UID]
	if w == nil {
		if err := checkPathToken("pod uid", p.UID); err != nil {
			// Never from the API (uids are generated); refuse to run it
			// rather than build paths from it.
			r.log.Warn("not running a pod with an unsafe uid", "pod", p.Namespace+"/"+p.Name, "err", err)
			return
		}
		if deleted {
			// Not running here (or already cleaned up): containers left from
			// before a restart are found by the orphan collection.
			return
		}
		w = r.startWorkerLocked(ctx, podKey{uid: p.UID, ns: p.Namespace, name: p.Name})
	}
	if deleted {
		w.update(nil, true)
		return
	}
	w.update(p, false)
}

// startWorkerLocked starts the worker of one pod uid; r.mu is held.
func (r *Runtime) startWorkerLocked(ctx context.Context, key podKey) *podWorker {
	w := newPodWorker(r, key)
	r.workers[key.uid] = w
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w.run(ctx)
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.workers[key.uid] == w {
			delete(r.workers, key.uid)
		}
		// A state that came after the one the worker finished with (the
		// pod undeleted by a merge after a partition, say) is not lost: a
		// new worker takes it. Updates arrive under r.mu, so none can slip
		// in between.
		if p := w.unfinished(); p != nil && ctx.Err() == nil {
			w.log.Info("the pod changed while its worker finished; a new one takes over")
			r.dispatchLocked(ctx, p, false)
		}
	}()
	return w
}

// pokeUsers wakes the workers of pods that use a ConfigMap or Secret.
func (r *Runtime) pokeUsers(obj api.Object) {
	m := obj.GetObjectMeta()
	_, secret := obj.(*api.Secret)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.workers {
		if p, _ := w.snapshot(); p != nil && p.Namespace == m.Namespace && usesConfig(p, m.Name, secret) {
			w.poke()
		}
	}
}

// usesConfig reports whether a pod refers to the named ConfigMap (or Secret).
func usesConfig(p *api.Pod, name string, secret bool) bool {
	for _, v := range p.Spec.Volumes {
		if !secret && v.ConfigMap != nil && v.ConfigMap.Name == name || secret && v.Secret != nil && v.Secret.SecretName == name {
			return true
		}
	}
	for _, c := range append(append([]api.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, ef := range c.EnvFrom {
			if !secret && ef.ConfigMapRef != nil && ef.ConfigMapRef.Name == name || secret && ef.SecretRef != nil && ef.SecretRef.Name == name {
				return true
			}
		}
		for _, e := range c.Env {
			if vf := e.ValueFrom; vf != nil && (!secret && vf.ConfigMapKeyRef != nil && vf.ConfigMapKeyRef.Name == name ||
				secret && vf.SecretKeyRef != nil && vf.SecretKeyRef.Name == name) {
				return true
			}
		}
	}
	return false
}

// onEngineEvent wakes the worker of the pod a container event is about.
func (r *Runtime) onEngineEvent(ev engine.Event) {
	uid := ev.Labels[engine.LabelPodUID]
	if uid == "" {
		return
	}
	r.mu.Lock()
	w := r.workers[uid]
	r.mu.Unlock()
	if w != nil {
		w.containerEvent(ev)
	}
}

// followEngine forwards the engine's container events, reconnecting when the
// stream breaks (the engine restarted, say), and waking every worker after a
// reconnect since events may have been missed.
func (r *Runtime) followEngine(ctx context.Context, out chan<- engine.Event) {
	delay := 100 * time.Millisecond
	first := true
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		evs, errs := r.eng.Events(sctx)
		if !first {
			r.mu.Lock()
			for _, w := range r.workers {
				w.poke()
			}
			r.mu.Unlock()
		}
		first = false
		alive := true
		for alive {
			select {
			case <-ctx.Done():
				cancel()
				return
			case ev, ok := <-evs:
				if !ok {
					alive = false
					break
				}
				delay = 100 * time.Millisecond
				select {
				case out <- ev:
				case <-ctx.Done():
				}
			case err := <-errs:
				if ctx.Err() == nil {
					r.log.Warn("engine event stream broke; reconnecting", "err", err, "in", delay)
				}
				alive = false
			case <-r.engineBack:
				// The old stream may be stuck on a connection the engine
				// never answers.
				delay = 0
				alive = false
			}
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		case <-r.engineBack:
			delay = 0
		}
		delay = min(max(delay*2, 100*time.Millisecond), 5*time.Second)
	}
}

// kickHousekeeper asks for a housekeeping round without waiting for it; a
// round already asked for covers this one.
func (r *Runtime) kickHousekeeper() {
	select {
	case r.housekeep <- struct{}{}:
	default:
	}
}

// housekeeper runs, one round at a time and off the event loop, the
// checks that compare the runner's workers with the engine's containers
// (orphans) and with the pods bound here in the store (missed events).
func (r *Runtime) housekeeper(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.housekeep:
		}
		r.collectOrphans(ctx)
		r.reconcilePods(ctx)
	}
}

// collectOrphans removes the containers of pods that are no longer bound to
// this node: deleted while the agent was down, or moved elsewhere.
func (r *Runtime) collectOrphans(ctx context.Context) {
	cctx, cancel := r.engineCtx(ctx)
	defer cancel()
	list, err := r.eng.ListContainers(cctx, map[string]string{engine.LabelPodUID: "", engine.LabelNode: r.cfg.NodeName})
	if err != nil {
		// Tried again at the next resync.
		r.log.Warn("listing containers for orphan collection failed", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// A runner that is stopping has let its workers go: the containers
	// they leave are the pods', kept running for the next start, not
	// orphans.
	if !r.synced || ctx.Err() != nil {
		return
	}
	for _, c := range list {
		uid := c.Labels[engine.LabelPodUID]
		if _, ok := r.workers[uid]; ok {
			continue
		}
		r.log.Info("removing containers of a pod not bound here", "pod", c.Labels[engine.LabelPodName], "uid", uid)
		w := r.startWorkerLocked(ctx, podKey{uid: uid, ns: c.Labels[engine.LabelPodNamespace], name: c.Labels[engine.LabelPodName]})
		w.update(nil, true)
	}
	r.collectPodDirsLocked(ctx)
	// Every pod with a container here has a worker now, and a worker is
	// made (under r.mu) before it wires anything: what no worker claims
	// is a leftover (a pod deleted while the agent was down, whose
	// containers were gone already).
	if r.cfg.Wiring != nil {
		if err := r.cfg.Wiring.Cleanup(ctx, func(uid string) bool { return r.workers[uid] != nil }); err != nil {
			r.log.Warn("cleaning up the pod network failed; tried again at the next resync", "err", err)
		}
	}
}

// collectPodDirsLocked removes the directories (and mounts: tmpfs volumes,
// staged subPaths) of pods that have no worker any more, such as pods
// deleted while the agent was down whose containers were already gone.
// Names that are not plain pod uids are left alone. r.mu is held.
func (r *Runtime) collectPodDirsLocked(ctx context.Context) {
	entries, err := os.ReadDir(filepath.Join(r.cfg.DataDir, "pods"))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("reading the pods' directories failed; their files are collected at a later resync", "err", err)
		}
		return
	}
	for _, e := range entries {
		uid := e.Name()
		if _, ok := r.workers[uid]; ok || checkPathToken("pod uid", uid) != nil || !e.IsDir() {
			continue
		}
		r.log.Info("removing the files of a pod not bound here", "uid", uid)
		w := r.startWorkerLocked(ctx, podKey{uid: uid})
		w.update(nil, true)
	}
}

// reap queues a container for removal; when the queue is full it removes
// the container at once.
func (r *Runtime) reap(ctx context.Context, id string) {
	select {
	case r.reapQueue <- id:
	default:
		if err := r.removeContainer(ctx, id); err != nil {
			r.log.Warn("removing container failed; the orphan collection tries again", "container", id, "err", err)
		}
	}
}

// reapAttempts bounds the removals of one container by the reaper (over
// about a minute); a container still left after that is the orphan
// collection's (its pod is gone) or the next restart's (an old attempt).
const reapAttempts = 6

type reapRetry struct {
	id      string
	attempt int
	at      time.Time
}

// reaper removes queued containers one at a time (forcibly: a sandbox
// still running is killed), trying a failed removal again with back-off.
// Containers left when the agent stops are found again by the orphan
// collection.
func (r *Runtime) reaper(ctx context.Context) {
	var retries []reapRetry
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	remove := func(id string, attempt int) {
		err := r.removeContainer(ctx, id)
		if err == nil || ctx.Err() != nil {
			return
		}
		if attempt >= reapAttempts || len(retries) >= cap(r.reapQueue) {
			r.log.Warn("removing container failed; giving up for now, the orphan collection tries again",
				"container", id, "attempts", attempt, "err", err)
			return
		}
		delay := time.Second << (attempt - 1)
		r.log.Warn("removing container failed; trying again", "container", id, "in", delay, "err", err)
		retries = append(retries, reapRetry{id: id, attempt: attempt + 1, at: time.Now().Add(delay)})
	}
	for {
		if len(retries) > 0 {
			next := retries[0].at
			for _, rr := range retries {
				if rr.at.Before(next) {
					next = rr.at
				}
			}
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case id := <-r.reapQueue:
			remove(id, 1)
		case <-timer.C:
			now := time.Now()
			due := retries[:0:0]
			keep := retries[:0]
			for _, rr := range retries {
				if rr.at.After(now) {
					keep = append(keep, rr)
				} else {
					due = append(due, rr)
				}
			}
			retries = keep
			for _, rr := range due {
				remove(rr.id, rr.attempt)
			}
		}
	}
}

// removeContainer removes one container; one already gone is no error.
func (r *Runtime) removeContainer(ctx context.Context, id string) error {
	cctx, cancel := r.engineCtx(ctx)
	defer cancel()
	if err := r.eng.RemoveContainer(cctx, id); err != nil && !errors.Is(err, engine.ErrNotFound) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// PodCount returns the number of pods this runner tracks.
func (r *Runtime) PodCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.workers)
}

// podDir is the directory of one pod's files under the data dir. The uid is
// checked first: it comes from the store or a container label, and must
// never lead outside the data dir.
func (r *Runtime) podDir(uid string) (string, error) {
	if err := checkPathToken("pod uid", uid); err != nil {
		return "", err
	}
	return filepath.Join(r.cfg.DataDir, "pods", uid), nil
}

// engineCtx bounds one engine call.
func (r *Runtime) engineCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.EngineTimeout)
}

// presence is a short-lived memory of things found to exist on the engine.
type presence struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// presenceTTL bounds how long an image is assumed present without asking;
// an image removed meanwhile makes a create fail and the pod retry.
const presenceTTL = time.Minute

func (p *presence) recent(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.seen[key]
	return ok && time.Since(t) < presenceTTL
}

func (p *presence) mark(key string) {
	p.mu.Lock()
	p.seen[key] = time.Now()
	p.mu.Unlock()
}

// dnsServers are the name servers for pods using the cluster DNS now.
func (r *Runtime) dnsServers() []string {
	if r.cfg.DNSServers == nil {
		return nil
	}
	return r.cfg.DNSServers()
}

// podsHere lists the pods bound to this node, as the store has them now.
func (r *Runtime) podsHere(ctx context.Context) ([]*api.Pod, error) {
	objs, _, err := r.store.List(ctx, api.KindPod, "", nil)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []*api.Pod
	for _, o := range objs {
		if p := o.(*api.Pod); p.Spec.NodeName == r.cfg.NodeName {
			out = append(out, p)
		}
	}
	return out, nil
}

// eventDelay is how long a change may take to reach the pod watch's loop
// on a busy agent before its absence is called a missed event.
const eventDelay = 5 * time.Second

// writtenWithin says whether p was last written less than d ago, by the
// time its resourceVersion carries ("<time>" or "<time>.<sum>").
func writtenWithin(p *api.Pod, d time.Duration) bool {
	t, _, _ := strings.Cut(p.ResourceVersion, ".")
	v, err := strconv.ParseUint(t, 10, 64)
	if err != nil {
		return false
	}
	return time.Since(gossip.TimeOf(v)) < d
}

// reconcilePods is the safety net of the pod watch: it compares the pods
// bound here in the store with the workers and mends what an event that
// never arrived left wrong. A pod with no worker gets one (a pod marked for
// deletion then finishes terminating and is removed), a worker whose pod
// changed is told, and a worker whose pod is gone stops it. Each pod is
// read again under r.mu, so that the loop's events, which also take r.mu,
// are all either before the read (and in it) or after it (and newer).
func (r *Runtime) reconcilePods(ctx context.Context) {
	listed, err := r.podsHere(ctx)
	if err != nil {
		r.log.Warn("comparing the pods bound here with the running ones failed; trying again at the next resync", "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.synced || ctx.Err() != nil {
		return
	}
	current := func(ns, name, uid string) *api.Pod {
		obj, err := r.store.Get(ctx, api.KindPod, ns, name)
		if err != nil {
			return nil
		}
		p := obj.(*api.Pod)
		if p.UID != uid || p.Spec.NodeName != r.cfg.NodeName {
			return nil
		}
		return p
	}
	for _, p := range listed {
		if w := r.workers[p.UID]; w != nil {
			if cur, deleted := w.snapshot(); !deleted && cur != nil && sameDesired(cur, p) {
				continue
			}
		}
		now := current(p.Namespace, p.Name, p.UID)
		if now == nil {
			continue // gone meanwhile: its event is on the way
		}
		if r.workers[p.UID] == nil {
			// A pod written a moment ago is most likely one whose event is
			// still on its way to the loop: starting its worker here is
			// harmless, but not worth a warning.
			level := slog.LevelWarn
			if writtenWithin(now, eventDelay) {
				level = slog.LevelDebug
			}
			r.log.Log(ctx, level, "a pod bound here had no worker (a missed event); starting one", "pod", p.Namespace+"/"+p.Name, "uid", p.UID,
				"terminating", now.DeletionTimestamp != nil)
		}
		r.dispatchLocked(ctx, now, false)
	}
	for uid, w := range r.workers {
		cur, deleted := w.snapshot()
		if deleted || cur == nil {
			continue
		}
		if current(cur.Namespace, cur.Name, uid) == nil {
			r.log.Warn("a pod this node runs is no longer bound here (a missed event); stopping it", "pod", cur.Namespace+"/"+cur.Name, "uid", uid)
			w.update(nil, true)
		}
	}
}
