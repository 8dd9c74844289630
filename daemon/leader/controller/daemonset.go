package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// DaemonSet event reasons, as Kubernetes names them.
const (
	ReasonFailedDaemonPod = "FailedDaemonPod"
)

// daemonSetController runs one pod of every DaemonSet on every node that
// fits it, following Kubernetes' pkg/controller/daemon. As Kubernetes did
// before 1.12, it binds the pods itself (spec.nodeName), without the
// scheduler; unlike Kubernetes' scheduler it does not check resources or
// host ports. A template with scheduling gates is the exception: a pod
// with gates may not have a node (Kubernetes refuses spec.nodeName on a
// gated pod), so its pods are created unbound, pinned to their node by a
// required node affinity on metadata.name, and the scheduler binds each
// once its gates are removed, as Kubernetes schedules every daemon pod
// since 1.12. Such a pod passes the scheduler's resource and host-port
// checks too, and waits Pending when its node lacks room.
//
// A node fits when its labels match the template's nodeSelector and its
// NoSchedule and NoExecute taints are tolerated; spec.unschedulable is
// ignored, as in Kubernetes. A node that is not Ready gets no new pod (a
// pod there could not start, and node failure handling would delete it
// again), but a pod already there stays. A pod on a node whose Node object
// is gone is removed at once: no node will ever stop it.
type daemonSetController struct {
	store   Store
	cache   cache
	rec     Recorder
	log     *slog.Logger
	opts    Options
	queue   *workqueue.Queue
	creates *expectations
	deletes *expectations
	backoff *failureBackoff // per DaemonSet and node, for failed pods

	// Only the watch goroutine of each kind touches its map.
	pods  *ownedPods
	nodes map[string]string // node name -> what of it placement depends on
}

func newDaemonSetController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *daemonSetController {
	return &daemonSetController{
		store:   store,
		cache:   cache,
		rec:     rec,
		log:     log.With("component", "daemonset"),
		opts:    opts,
		queue:   workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
		creates: newExpectations(opts.ExpectationsTimeout, opts.Now),
		deletes: newExpectations(opts.ExpectationsTimeout, opts.Now),
		backoff: newFailureBackoff(opts.FailedPodBackoff, opts.FailedPodBackoffMax),
		pods:    newOwnedPods(api.KindDaemonSet),
		nodes:   map[string]string{},
	}
}

func (c *daemonSetController) loop() *loop {
	return &loop{
		name: "daemonset", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindDaemonSet, handle: c.onDaemonSet},
			{kind: api.KindPod, handle: c.onPod},
			{kind: api.KindNode, handle: c.onNode},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindDaemonSet, c.queue) },
	}
}

func (c *daemonSetController) onDaemonSet(_ context.Context, ev api.WatchEvent) {
	key := keyOf(ev.Object)
	if ev.Type == api.Deleted {
		c.forget(key)
		return
	}
	c.queue.Add(key)
}

func (c *daemonSetController) forget(key string) {
	c.creates.forget(key)
	c.deletes.forget(key)
	c.backoff.forget(key)
}

func (c *daemonSetController) onPod(ctx context.Context, ev api.WatchEvent) {
	podHandler{pods: c.pods, creates: c.creates, deletes: c.deletes, queue: c.queue, selecting: c.enqueueSelecting}.onPod(ctx, ev)
}

// enqueueSelecting queues the DaemonSets whose selector matches pod.
func (c *daemonSetController) enqueueSelecting(_ context.Context, pod *api.Pod) {
	for _, o := range c.cache.list(api.KindDaemonSet, pod.Namespace, nil) {
		ds := o.(*api.DaemonSet)
		if sel, err := ds.Spec.Selector.AsSelector(); err == nil && !sel.Empty() && sel.Matches(pod.Labels) {
			c.queue.Add(keyOf(ds))
		}
	}
}

// onNode queues every DaemonSet when a node comes, goes, or changes in
// what placement depends on; heartbeats and other status changes are
// ignored.
func (c *daemonSetController) onNode(ctx context.Context, ev api.WatchEvent) {
	node, ok := ev.Object.(*api.Node)
	if !ok {
		return
	}
	if ev.Type == api.Deleted {
		delete(c.nodes, node.Name)
	} else {
		fp := jsonString(struct {
			Labels map[string]string
			Taints []api.Taint
			Ready  bool
		}{node.Labels, node.Spec.Taints, nodeIsReady(node)})
		if old, seen := c.nodes[node.Name]; seen && old == fp {
			return
		}
		c.nodes[node.Name] = fp
	}
	if err := enqueueAll(c.cache, api.KindDaemonSet, c.queue); err != nil {
		c.log.Debug("listing daemonsets for a node change failed", "node", node.Name, "err", err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func nodeIsReady(n *api.Node) bool {
	c := api.FindCondition(n.Status.Conditions, api.NodeReady)
	return c != nil && c.Status == api.ConditionTrue
}

// placement says what a DaemonSet does on one node.
type placement struct {
	run  bool // the node should run the pod: it is desired, and gets a pod when it has none
	keep bool // a pod already there may stay
}

// placeOn decides placement as Kubernetes' NodeShouldRunDaemonPod does: a
// node whose labels do not match, or with an untolerated NoExecute taint,
// must not run the pod; an untolerated NoSchedule taint only stops new pods.
// A node that is not Ready gets no new pod but keeps the one it has.
func placeOn(n *api.Node, spec *api.PodSpec, tols []api.Toleration, hasPods bool) placement {
	if spec.NodeName != "" && spec.NodeName != n.Name || !api.MatchesNodeAffinity(spec, n) {
		return placement{}
	}
	for k, v := range spec.NodeSelector {
		if have, ok := n.Labels[k]; !ok || have != v {
			return placement{}
		}
	}
	switch {
	case api.UntoleratedTaint(n.Spec.Taints, tols, api.TaintNoExecute) != nil:
		return placement{}
	case api.UntoleratedTaint(n.Spec.Taints, tols, api.TaintNoSchedule) != nil:
		return placement{keep: true}
	case !nodeIsReady(n) && !hasPods:
		return placement{keep: true}
	}
	return placement{run: true, keep: true}
}

// daemonTolerations adds what Kubernetes adds to every daemon pod: it
// stays on a node that is not ready or unreachable, so that a node's
// trouble never evicts its daemons.
func daemonTolerations(tols []api.Toleration) []api.Toleration {
	out := append([]api.Toleration(nil), tols...)
	for _, key := range []string{api.TaintNotReady, api.TaintUnreachable} {
		found := false
		for _, t := range out {
			if t.Key == key && t.Effect == api.TaintNoExecute {
				found = true
				break
			}
		}
		if !found {
			out = append(out, api.Toleration{Key: key, Operator: "Exists", Effect: api.TaintNoExecute})
		}
	}
	return out
}

// dsRun is what one sync of one DaemonSet works on.
type dsRun struct {
	key    string
	ds     *api.DaemonSet
	hash   string // controller-revision-hash of the current template
	tols   []api.Toleration
	now    time.Time
	nodes  map[string]*api.Node  // by name
	byNode map[string][]*api.Pod // claimed pods by spec.nodeName
	place  map[string]placement  // every node that has pods or should run one
	names  []string              // the keys of place, sorted
	wait   time.Duration         // until the back-off of a failed pod ends, if > 0
}

func (r *dsRun) available(p *api.Pod) bool {
	return isPodAvailable(p, r.ds.Spec.MinReadySeconds, r.now)
}

func (r *dsRun) waitAtMost(d time.Duration) {
	if d > 0 && (r.wait == 0 || d < r.wait) {
		r.wait = d
	}
}

// sync brings one DaemonSet's pods to its nodes and writes its status.
func (c *daemonSetController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindDaemonSet, ns, name)
	if !ok {
		c.forget(key)
		return nil
	}
	ds := informer.Copy(obj.(*api.DaemonSet)) // its status is written below
	sel, err := ds.Spec.Selector.AsSelector()
	if err != nil || sel.Empty() {
		// Validation keeps these out; retrying would not help.
		c.rec.Eventf(ds, api.EventWarning, ReasonSelectorInvalid, "Invalid selector: %v", err)
		return nil
	}
	// While pods it created or deleted are not seen yet, the lists may be
	// stale: only the status is written, and observedGeneration stays.
	// Whether the creations and deletions made are all seen is read before
	// the pods are: read after, a pod seen (and counted) between the two
	// reads would be missing from the list and made again.
	processed := c.creates.satisfied(key) && c.deletes.satisfied(key)
	r, err := c.observe(ctx, key, ds, sel)
	if err != nil {
		return err
	}
	var manageErr error
	if processed && ds.DeletionTimestamp == nil { // a DaemonSet being deleted makes no pods
		manageErr = c.manage(ctx, r)
	}
	if err := c.writeStatus(ctx, r, processed); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	c.requeue(r)
	return nil
}

// observe reads the nodes and the DaemonSet's pods and decides placement.
func (c *daemonSetController) observe(ctx context.Context, key string, ds *api.DaemonSet, sel api.Selector) (*dsRun, error) {
	hash, err := computeHash(&ds.Spec.Template, nil)
	if err != nil {
		return nil, err
	}
	nodeObjs := c.cache.list(api.KindNode, "", nil)
	pods, err := c.claimPods(ctx, ds, sel)
	if err != nil {
		return nil, err
	}
	r := &dsRun{key: key, ds: ds, hash: hash, tols: daemonTolerations(ds.Spec.Template.Spec.Tolerations),
		now: c.opts.Now(), nodes: map[string]*api.Node{}, byNode: map[string][]*api.Pod{}, place: map[string]placement{}}
	for _, p := range pods {
		node := targetNode(p)
		r.byNode[node] = append(r.byNode[node], p)
	}
	for _, o := range nodeObjs {
		n := o.(*api.Node)
		r.nodes[n.Name] = n
		pl := placeOn(n, &ds.Spec.Template.Spec, r.tols, len(r.byNode[n.Name]) > 0)
		if pl.run || len(r.byNode[n.Name]) > 0 {
			r.place[n.Name] = pl
		}
	}
	for name := range r.byNode {
		if _, ok := r.nodes[name]; !ok {
			r.place[name] = placement{} // the node is gone
		}
	}
	for name := range r.place {
		r.names = append(r.names, name)
	}
	sort.Strings(r.names)
	return r, nil
}

// claimPods returns the pods the DaemonSet controls, after adopting and
// releasing; finished pods already being deleted are past caring about.
func (c *daemonSetController) claimPods(ctx context.Context, ds *api.DaemonSet, sel api.Selector) ([]*api.Pod, error) {
	var live []api.Object
	for _, o := range c.cache.candidates(api.KindPod, ds, sel) {
		if p := o.(*api.Pod); !api.IsPodTerminal(p) || p.DeletionTimestamp == nil {
			live = append(live, o)
		}
	}
	claimed, err := newClaimer(c.store, ds, sel).claim(ctx, live)
	pods := make([]*api.Pod, len(claimed))
	for i, o := range claimed {
		pods[i] = o.(*api.Pod)
	}
	return pods, err
}

// manage creates the pods nodes lack and deletes those that must go; when
// nothing else is to be done, it takes a rolling update one step further.
func (c *daemonSetController) manage(ctx context.Context, r *dsRun) error {
	del, create := c.planNodes(r)
	if len(del) == 0 && len(create) == 0 && r.ds.Spec.UpdateStrategy.Type == api.RollingUpdateStrategy {
		del, create = c.rollingUpdate(r)
	}
	return c.apply(ctx, r, del, create)
}

// planNodes is Kubernetes' podsShouldBeOnNode over every node.
func (c *daemonSetController) planNodes(r *dsRun) (del []*api.Pod, create []string) {
	for _, name := range r.names {
		pl, pods := r.place[name], r.byNode[name]
		switch {
		case pl.run && len(pods) == 0:
			create = append(create, name)
		case pl.keep:
			del = append(del, c.prune(r, name, pods)...)
		default:
			for _, p := range pods {
				if p.DeletionTimestamp == nil {
					del = append(del, p)
				}
			}
		}
	}
	return del, create
}

// prune picks the pods to delete on a node that may keep one: finished ones
// (failed ones after a back-off, so that a pod its node keeps rejecting is
// not recreated in a hot loop), and all but one of the rest. During a surge
// the old pod stays next to the new until the new is available.
func (c *daemonSetController) prune(r *dsRun, node string, pods []*api.Pod) []*api.Pod {
	var del, live []*api.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		switch p.Status.Phase {
		case api.PodFailed:
			if wait := c.backoff.step(r.key+"/"+node, r.now); wait > 0 {
				r.waitAtMost(wait)
				continue
			}
			c.rec.Eventf(r.ds, api.EventWarning, ReasonFailedDaemonPod,
				"Found failed daemon pod %s on node %s, will try to kill it", keyOf(p), node)
			del = append(del, p)
		case api.PodSucceeded:
			del = append(del, p)
		default:
			live = append(live, p)
		}
	}
	if len(live) <= 1 {
		return del
	}
	sort.SliceStable(live, func(i, j int) bool { return keepFirst(live[i], live[j]) })
	if !allowsSurge(r.ds) {
		return append(del, live[1:]...)
	}
	var oldestNew, oldestOld *api.Pod
	for _, p := range live {
		switch {
		case p.Labels[api.LabelControllerRevision] == r.hash && oldestNew == nil:
			oldestNew = p
		case p.Labels[api.LabelControllerRevision] != r.hash && oldestOld == nil:
			oldestOld = p
		default:
			del = append(del, p)
		}
	}
	if oldestNew != nil && oldestOld != nil && (!api.IsPodReady(oldestOld) || r.available(oldestNew)) {
		del = append(del, oldestOld)
	}
	return del
}

// keepFirst orders the pods of one node by which to keep: ready before not
// ready, then the oldest, then by name so that every leader picks alike.
func keepFirst(a, b *api.Pod) bool {
	if ra, rb := api.IsPodReady(a), api.IsPodReady(b); ra != rb {
		return ra
	}
	if ca, cb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ca.Equal(cb) {
		return ca.Before(cb)
	}
	return a.Name < b.Name
}

// rollingCount resolves maxSurge or maxUnavailable (pick chooses) against
// n nodes, rounded up as Kubernetes does; 0 when not set or not rolling.
func rollingCount(ds *api.DaemonSet, n int32, pick func(*api.RollingUpdateDaemonSet) *api.IntOrString) int32 {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy || ru == nil {
		return 0
	}
	v, _ := scaled(pick(ru), n, true) // validated on write
	return v
}

func maxSurgeOf(ru *api.RollingUpdateDaemonSet) *api.IntOrString       { return ru.MaxSurge }
func maxUnavailableOf(ru *api.RollingUpdateDaemonSet) *api.IntOrString { return ru.MaxUnavailable }

// allowsSurge is Kubernetes' AllowsSurge: any maxSurge above 0, a percentage
// included, lets a node run an old and a new pod at once.
func allowsSurge(ds *api.DaemonSet) bool { return rollingCount(ds, 1, maxSurgeOf) > 0 }

// dsFenceposts resolves maxSurge and maxUnavailable against the desired
// number of nodes; when both come out 0, one node may be unavailable.
func dsFenceposts(ds *api.DaemonSet, desired int32) (surge, unavailable int32) {
	surge = rollingCount(ds, desired, maxSurgeOf)
	unavailable = rollingCount(ds, desired, maxUnavailableOf)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, unavailable
}

// updatedPodsOn is Kubernetes' findUpdatedPodsOnNode: the node's one pod of
// the current template and its one older pod, ignoring pods being deleted;
// ok is false when it has two of either.
func updatedPodsOn(pods []*api.Pod, hash string) (newPod, oldPod *api.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[api.LabelControllerRevision] == hash {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = p
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = p
		}
	}
	return newPod, oldPod, true
}

// rollingUpdate replaces old pods: without surge by deleting as many as
// maxUnavailable allows (the next sync creates their replacements), with
// surge by creating new pods next to old ones and deleting the old once the
// new are available.
func (c *daemonSetController) rollingUpdate(r *dsRun) (del []*api.Pod, create []string) {
	var desired int32
	for _, pl := range r.place {
		if pl.run {
			desired++
		}
	}
	surge, maxUnavailable := dsFenceposts(r.ds, desired)
	if surge > 0 {
		return c.surgeUpdate(r, surge)
	}
	var unavailable int32
	var allowed, candidates []*api.Pod
	for _, name := range r.names {
		newPod, oldPod, ok := updatedPodsOn(r.byNode[name], r.hash)
		switch {
		case !ok, newPod == nil && oldPod == nil, newPod != nil && oldPod != nil:
			// planNodes deals with this node; it counts as unavailable
			unavailable++
		case newPod != nil:
			if !r.available(newPod) {
				unavailable++
			}
		case !r.available(oldPod):
			allowed = append(allowed, oldPod) // replacing it costs no availability
		case unavailable < maxUnavailable:
			candidates = append(candidates, oldPod)
		}
	}
	n := min(max(int(maxUnavailable-unavailable), 0), len(candidates))
	return append(allowed, candidates[:n]...), nil
}

// surgeUpdate is the maxSurge branch of Kubernetes' rollingUpdate.
func (c *daemonSetController) surgeUpdate(r *dsRun, maxSurge int32) (del []*api.Pod, create []string) {
	var surging int32
	var allowed, candidates []string
	for _, name := range r.names {
		newPod, oldPod, ok := updatedPodsOn(r.byNode[name], r.hash)
		switch {
		case !ok, oldPod == nil:
			// planNodes deals with this node
		case newPod == nil && !r.available(oldPod):
			if !r.place[name].run {
				del = append(del, oldPod) // it may not run here anyway
			} else if n := r.nodes[name]; n != nil && nodeIsReady(n) {
				allowed = append(allowed, name)
			}
		case newPod == nil:
			if n := r.nodes[name]; surging < maxSurge && n != nil && nodeIsReady(n) {
				candidates = append(candidates, name)
			}
		case !r.available(newPod):
			surging++
		default:
			del = append(del, oldPod)
		}
	}
	n := min(max(int(maxSurge-surging), 0), len(candidates))
	return del, append(allowed, candidates[:n]...)
}

// apply deletes and creates pods, no more than BurstReplicas of each. A pod
// whose node is gone is removed at once: no node will stop it.
func (c *daemonSetController) apply(ctx context.Context, r *dsRun, del []*api.Pod, create []string) error {
	w := &podWriter{store: c.store, rec: c.rec, creates: c.creates, deletes: c.deletes, key: r.key, owner: r.ds}
	del = del[:min(len(del), c.opts.BurstReplicas)]
	create = create[:min(len(create), c.opts.BurstReplicas)]
	_, delErr := w.remove(ctx, del, func(p *api.Pod) *int64 {
		if _, ok := r.nodes[p.Spec.NodeName]; !ok {
			return api.Int64(0)
		}
		return nil
	})
	created, createErr := w.create(ctx, len(create), func(i int) (*api.Pod, error) { return r.newPod(create[i]) })
	if len(del)+len(created) > 0 {
		c.log.Debug("synced daemon pods", "daemonset", r.key, "deleted", len(del), "created", len(created))
	}
	return errors.Join(delErr, createErr)
}

// newPod makes the DaemonSet's pod for a node, bound to it.
func (r *dsRun) newPod(node string) (*api.Pod, error) {
	pod, err := newPodFromTemplate(r.ds, &r.ds.Spec.Template)
	if err != nil {
		return nil, err
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[api.LabelControllerRevision] = r.hash
	pod.Spec.Tolerations = append([]api.Toleration(nil), r.tols...)
	if len(pod.Spec.SchedulingGates) == 0 {
		pod.Spec.NodeName = node
		return pod, nil
	}
	// Gated: the scheduler binds it to its node once the gates are gone;
	// it tolerates a cordon there, as the controller does.
	pod.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
		NodeSelectorTerms: []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{{Key: api.FieldNodeName, Operator: api.OpIn, Values: []string{node}}}}},
	}}}
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, api.Toleration{Key: api.TaintUnschedulable, Operator: "Exists", Effect: api.TaintNoSchedule})
	return pod, nil
}

// targetNode is the node a daemon pod is for: the one it is bound to, or
// the one its node affinity pins it to while it waits for the scheduler
// (Kubernetes' GetTargetNodeName).
func targetNode(p *api.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	return api.NodeNameOfAffinity(&p.Spec)
}

// calculateStatus counts as Kubernetes' updateDaemonSetStatus does: on each
// node that should run the pod, the best of its pods counts.
func (r *dsRun) calculateStatus(processed bool) api.DaemonSetStatus {
	st := api.DaemonSetStatus{ObservedGeneration: r.ds.Status.ObservedGeneration,
		Conditions: append([]api.Condition(nil), r.ds.Status.Conditions...)}
	if processed {
		st.ObservedGeneration = r.ds.Generation
	}
	for _, name := range r.names {
		pods := r.byNode[name]
		if !r.place[name].run {
			if len(pods) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			continue
		}
		st.CurrentNumberScheduled++
		best := bestLivePod(pods)
		if best == nil {
			continue
		}
		if api.IsPodReady(best) {
			st.NumberReady++
		}
		if r.available(best) {
			st.NumberAvailable++
		}
		if best.Labels[api.LabelControllerRevision] == r.hash {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// bestLivePod is the pod of a node that is kept first, ignoring pods being
// deleted; nil if there is none.
func bestLivePod(pods []*api.Pod) *api.Pod {
	var best *api.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && (best == nil || keepFirst(p, best)) {
			best = p
		}
	}
	return best
}

// writeStatus writes the status only when it changed.
func (c *daemonSetController) writeStatus(ctx context.Context, r *dsRun, processed bool) error {
	st := r.calculateStatus(processed)
	if jsonEqual(r.ds.Status, st) {
		return nil
	}
	r.ds.Status = st
	if _, err := c.store.UpdateStatus(ctx, r.ds); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of daemonset %s: %w", r.key, err)
	}
	return nil
}

// requeue syncs again when a ready pod becomes available (minReadySeconds)
// or a failed pod's back-off ends: those moments bring no watch event.
func (c *daemonSetController) requeue(r *dsRun) {
	next := r.wait
	for _, pods := range r.byNode {
		for _, p := range pods {
			if d, ok := availableIn(p, r.ds.Spec.MinReadySeconds, r.now); ok && (next == 0 || d < next) {
				next = d
			}
		}
	}
	if next > 0 {
		c.queue.AddAfter(r.key, next+10*time.Millisecond)
	}
}
