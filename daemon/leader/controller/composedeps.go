package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// What `shoal compose` writes (package compose): the project and service
// labels, the depends_on annotation on a service's workload and the
// scheduling gate on its pods. Both sides name them the same.
const (
	composeLabelProject   = "com.docker.compose.project"
	composeLabelService   = "com.docker.compose.service"
	composeDependsOn      = "compose.shoal.io/depends-on" // annotation and gate
	ReasonDependencyWait  = "WaitingForDependencies"
	ReasonDependenciesMet = "DependenciesMet"
)

// depends_on conditions, as compose names them.
const (
	conditionStarted   = "service_started"
	conditionHealthy   = "service_healthy"
	conditionCompleted = "service_completed_successfully"
)

// composeDependency is one entry of the depends_on annotation.
type composeDependency struct {
	Service   string `json:"service"`
	Condition string `json:"condition"`
	Required  bool   `json:"required"`
	Restart   bool   `json:"restart,omitempty"`
}

// composeDepsController enforces compose's depends_on on the cluster: the
// pods of a service that depends on others carry the scheduling gate
// compose.shoal.io/depends-on, and this controller removes it from them
// once every dependency of the service holds. So a dependent container
// never starts before its dependencies, whoever started the project, and
// a pod made later (a replacement, a scale-up, a new node) waits again.
//
// One key per namespace (a compose project): a sync reads the project's
// pods and workloads once and decides for every gated service.
type composeDepsController struct {
	store Store
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue

	mu      sync.Mutex
	waiting map[string]string // workload key -> the reason last recorded
}

func newComposeDepsController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *composeDepsController {
	return &composeDepsController{store: store, cache: cache, rec: rec, log: log.With("component", "compose-depends-on"), opts: opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax), waiting: map[string]string{}}
}

func (c *composeDepsController) loop() *loop {
	return &loop{
		name: "compose-depends-on", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindPod, handle: c.onObject},
			{kind: api.KindDeployment, handle: c.onObject},
			{kind: api.KindJob, handle: c.onObject},
			{kind: api.KindDaemonSet, handle: c.onObject},
		},
		sync:   c.sync,
		resync: c.resync,
	}
}

// onObject queues the project of a compose object, or of any gated pod.
func (c *composeDepsController) onObject(_ context.Context, ev api.WatchEvent) {
	m := ev.Object.GetObjectMeta()
	if _, ok := m.Labels[composeLabelProject]; ok {
		c.queue.Add(m.Namespace)
		return
	}
	if p, ok := ev.Object.(*api.Pod); ok && hasGate(p) {
		c.queue.Add(p.Namespace)
	}
}

func (c *composeDepsController) resync(context.Context) error {
	for _, o := range c.cache.list(api.KindPod, "", nil) {
		if hasGate(o.(*api.Pod)) {
			c.queue.Add(o.GetObjectMeta().Namespace)
		}
	}
	return nil
}

func hasGate(p *api.Pod) bool {
	for _, g := range p.Spec.SchedulingGates {
		if g.Name == composeDependsOn {
			return true
		}
	}
	return false
}

// project is what one sync knows of a namespace.
type project struct {
	ns        string
	pods      []*api.Pod
	workloads map[string]api.Object // by service name: Deployment, Job or DaemonSet
}

func (c *composeDepsController) sync(ctx context.Context, ns string) error {
	objs := c.cache.list(api.KindPod, ns, nil)
	gated := map[string][]*api.Pod{} // by service
	p := &project{ns: ns, workloads: map[string]api.Object{}}
	for _, o := range objs {
		pod := o.(*api.Pod)
		p.pods = append(p.pods, pod)
		if hasGate(pod) && pod.DeletionTimestamp == nil {
			svc := pod.Labels[composeLabelService]
			gated[svc] = append(gated[svc], pod)
		}
	}
	if len(gated) == 0 {
		c.forgetNamespace(ns)
		return nil
	}
	for _, k := range []*api.Kind{api.KindDeployment, api.KindJob, api.KindDaemonSet} {
		for _, o := range c.cache.list(k, ns, nil) {
			if svc, ok := o.GetObjectMeta().Labels[composeLabelService]; ok {
				p.workloads[svc] = o
			}
		}
	}
	services := make([]string, 0, len(gated))
	for svc := range gated {
		services = append(services, svc)
	}
	sort.Strings(services)
	var errs []error
	for _, svc := range services {
		w := p.workloads[svc]
		holds, why := true, ""
		if w != nil && svc != "" {
			holds, why = p.dependenciesHold(w)
		}
		if !holds {
			c.recordWaiting(w, why)
			continue
		}
		c.recordMet(w)
		for _, pod := range gated[svc] {
			if err := c.ungate(ctx, pod); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("compose depends_on in %s: %v", ns, errs)
	}
	return nil
}

// ungate removes the depends-on gate from one pod, keeping any other. The
// informer's pod is shared: the write goes on a copy.
func (c *composeDepsController) ungate(ctx context.Context, pod *api.Pod) error {
	fresh := informer.Copy(pod)
	fresh.Spec.SchedulingGates = nil
	for _, g := range pod.Spec.SchedulingGates {
		if g.Name != composeDependsOn {
			fresh.Spec.SchedulingGates = append(fresh.Spec.SchedulingGates, g)
		}
	}
	_, err := c.store.Update(ctx, fresh)
	if api.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pod %s: remove gate: %w", pod.Name, err)
	}
	c.log.Debug("dependencies hold; pod released", "pod", pod.Namespace+"/"+pod.Name)
	return nil
}

// dependenciesHold checks every entry of a workload's depends_on, and
// says which does not hold and why.
func (p *project) dependenciesHold(w api.Object) (bool, string) {
	raw, ok := w.GetObjectMeta().Annotations[composeDependsOn]
	if !ok {
		return true, "" // depends_on was removed from the file: nothing to wait for
	}
	var deps []composeDependency
	if err := json.Unmarshal([]byte(raw), &deps); err != nil {
		return false, fmt.Sprintf("the annotation %s is not a JSON list of dependencies (%v); fix it or remove it", composeDependsOn, err)
	}
	var waits []string
	for _, d := range deps {
		if ok, why := p.dependencyHolds(d); !ok {
			waits = append(waits, fmt.Sprintf("%s (%s): %s", d.Service, d.Condition, why))
		}
	}
	if len(waits) > 0 {
		return false, "waiting for " + strings.Join(waits, "; ")
	}
	return true, ""
}

// dependencyHolds checks one dependency. A dependency that is not
// required holds when its service is absent or has failed, as docker
// compose goes on with a warning then.
func (p *project) dependencyHolds(d composeDependency) (bool, string) {
	w := p.workloads[d.Service]
	if w == nil {
		if !d.Required {
			return true, ""
		}
		return false, "no such service in the project"
	}
	if w.GetObjectMeta().DeletionTimestamp != nil {
		return false, "being deleted"
	}
	running, ready, succeeded := 0, 0, 0
	for _, pod := range p.pods {
		if pod.Labels[composeLabelService] != d.Service || pod.DeletionTimestamp != nil {
			continue
		}
		switch pod.Status.Phase {
		case api.PodRunning:
			running++
			if api.IsPodReady(pod) {
				ready++
			}
		case api.PodSucceeded:
			succeeded++
		}
	}
	if j, ok := w.(*api.Job); ok {
		complete, failed := jobFinished(j)
		switch {
		case failed && !d.Required:
			return true, ""
		case failed:
			return false, "its job failed"
		case complete:
			return true, ""
		case d.Condition == conditionCompleted:
			return false, "not completed yet"
		case d.Condition == conditionHealthy && ready+succeeded > 0,
			d.Condition != conditionHealthy && running+succeeded > 0:
			return true, ""
		}
		return false, "not started yet"
	}
	want := int32(0)
	switch o := w.(type) {
	case *api.Deployment:
		if o.Spec.Replicas != nil {
			want = *o.Spec.Replicas
		}
	case *api.DaemonSet:
		if o.Status.ObservedGeneration < o.Generation {
			return false, "its nodes are not counted yet"
		}
		want = o.Status.DesiredNumberScheduled
	}
	switch d.Condition {
	case conditionCompleted:
		if !d.Required {
			return true, ""
		}
		return false, "a service that restarts never completes; give it restart: \"no\""
	case conditionHealthy:
		if int32(ready) >= want {
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d healthy", ready, want)
	default:
		if int32(running) >= want {
			return true, ""
		}
		return false, fmt.Sprintf("%d of %d running", running, want)
	}
}

func jobFinished(j *api.Job) (complete, failed bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != api.ConditionTrue {
			continue
		}
		switch c.Type {
		case api.JobComplete:
			complete = true
		case api.JobFailed:
			failed = true
		}
	}
	return complete, failed
}

// recordWaiting records, once per change of reason, why a service's pods
// are still held.
func (c *composeDepsController) recordWaiting(w api.Object, why string) {
	if w == nil {
		return
	}
	key := api.KindOf(w).Kind + "/" + keyOf(w)
	c.mu.Lock()
	same := c.waiting[key] == why
	c.waiting[key] = why
	c.mu.Unlock()
	if !same {
		c.rec.Eventf(w, api.EventNormal, ReasonDependencyWait, "%s", why)
	}
}

// forgetNamespace drops what was recorded of a project with no pod held.
func (c *composeDepsController) forgetNamespace(ns string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.waiting {
		if _, rest, _ := strings.Cut(key, "/"); strings.HasPrefix(rest, ns+"/") {
			delete(c.waiting, key)
		}
	}
}

func (c *composeDepsController) recordMet(w api.Object) {
	if w == nil {
		return
	}
	key := api.KindOf(w).Kind + "/" + keyOf(w)
	c.mu.Lock()
	_, was := c.waiting[key]
	delete(c.waiting, key)
	c.mu.Unlock()
	if was {
		c.rec.Eventf(w, api.EventNormal, ReasonDependenciesMet, "dependencies hold; pods released for scheduling")
	}
}
