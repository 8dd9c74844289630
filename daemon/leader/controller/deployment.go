package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shoal-dev/shoal/daemon/leader/workqueue"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/registry/informer"
)

// errHashCollision: the name of the new ReplicaSet is taken by one that is
// not ours; the collision count was raised and the next sync uses a new hash.
var errHashCollision = errors.New("controller: pod-template-hash collision")

// deploymentController rolls Deployments out through ReplicaSets, one per
// pod template, following Kubernetes' pkg/controller/deployment.
type deploymentController struct {
	store Store
	cache cache
	rec   Recorder
	log   *slog.Logger
	opts  Options
	queue *workqueue.Queue
	// creating says how many pods the ReplicaSet of a key is creating that
	// the informer does not show yet (the ReplicaSet controller's
	// expectations); nil counts none.
	creating func(rsKey string) int
}

func newDeploymentController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *deploymentController {
	return &deploymentController{
		store: store,
		cache: cache,
		rec:   rec,
		log:   log.With("component", "deployment"),
		opts:  opts,
		queue: workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
	}
}

func (c *deploymentController) loop() *loop {
	return &loop{
		name: "deployment", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindDeployment, handle: c.onDeployment},
			{kind: api.KindReplicaSet, handle: c.onReplicaSet},
			{kind: api.KindPod, handle: c.onPod},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindDeployment, c.queue) },
	}
}

func (c *deploymentController) onDeployment(_ context.Context, ev api.WatchEvent) {
	if ev.Type != api.Deleted {
		c.queue.Add(keyOf(ev.Object))
	}
}

// onReplicaSet queues the Deployment controlling the ReplicaSet, or, for an
// orphan, the Deployments that may adopt it.
func (c *deploymentController) onReplicaSet(_ context.Context, ev api.WatchEvent) {
	m := ev.Object.GetObjectMeta()
	if ref := m.ControllerRef(); ref != nil {
		if ref.Kind == api.KindDeployment.Kind {
			c.queue.Add(keyFor(m.Namespace, ref.Name))
		}
		return
	}
	if ev.Type == api.Deleted {
		return
	}
	for _, o := range c.cache.list(api.KindDeployment, m.Namespace, nil) {
		d := o.(*api.Deployment)
		if sel, err := d.Spec.Selector.AsSelector(); err == nil && !sel.Empty() && sel.Matches(m.Labels) {
			c.queue.Add(keyOf(d))
		}
	}
}

// onPod queues the Deployment above the pod's ReplicaSet: the rollout
// decides on the pods themselves (how many are up, how many available), and
// Recreate waits for the old ones to be gone.
func (c *deploymentController) onPod(_ context.Context, ev api.WatchEvent) {
	m := ev.Object.GetObjectMeta()
	ref := m.ControllerRef()
	if ref == nil || ref.Kind != api.KindReplicaSet.Kind {
		return
	}
	obj, ok := c.cache.get(api.KindReplicaSet, m.Namespace, ref.Name)
	if !ok || obj.GetObjectMeta().UID != ref.UID {
		return
	}
	if dref := obj.GetObjectMeta().ControllerRef(); dref != nil && dref.Kind == api.KindDeployment.Kind {
		c.queue.Add(keyFor(m.Namespace, dref.Name))
	}
}

// rollout is what one sync of one Deployment works on.
type rollout struct {
	d      *api.Deployment
	stored api.DeploymentStatus // the status as read, to write only changes
	rsList []*api.ReplicaSet
	pods   map[string][]*api.Pod // by the uid of the controlling ReplicaSet
	now    time.Time
	// creating: see deploymentController.creating.
	creating func(rsKey string) int
}

// podCount is what a ReplicaSet's pods are right now, read from the pods
// rather than from its status, which its controller may not have written yet.
type podCount struct {
	active    int32 // neither ended nor being deleted
	available int32 // active and ready for minReadySeconds
}

func (r *rollout) count(rs *api.ReplicaSet) podCount {
	var pc podCount
	if rs == nil {
		return pc
	}
	for _, p := range r.pods[rs.UID] {
		if !isPodActive(p) {
			continue
		}
		pc.active++
		if isPodAvailable(p, r.d.Spec.MinReadySeconds, r.now) {
			pc.available++
		}
	}
	return pc
}

// upperBound is the most pods the ReplicaSets can have active before the
// rollout changes them again: each one's controller only creates up to
// spec, and deletes down to it; but pods it is creating for an earlier,
// larger spec exist before the informer shows them, so they count too.
func (r *rollout) upperBound(sets []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs == nil {
			continue
		}
		active := r.count(rs).active
		if r.creating != nil {
			active += int32(r.creating(keyOf(rs)))
		}
		n += max(replicasOf(rs.Spec.Replicas), active)
	}
	return n
}

// available is the available pods the ReplicaSet is sure to keep: its
// controller deletes the least available pods first when it scales down.
func (r *rollout) available(rs *api.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return min(replicasOf(rs.Spec.Replicas), r.count(rs).available)
}

func (r *rollout) availableSum(sets []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		n += r.available(rs)
	}
	return n
}

// sync reconciles one Deployment: adopt its ReplicaSets, then scale (when
// paused or resized) or roll out with its strategy, then write status.
func (c *deploymentController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindDeployment, ns, name)
	if !ok {
		return nil
	}
	d := informer.Copy(obj.(*api.Deployment)) // its status is built and written in place
	sel, err := d.Spec.Selector.AsSelector()
	if err != nil || sel.Empty() {
		c.rec.Eventf(d, api.EventWarning, ReasonSelectorInvalid, "This deployment has an invalid or empty selector: %v", err)
		return nil
	}
	r := &rollout{d: d, now: c.opts.Now(), creating: c.creating}
	if r.stored, err = deepCopy(d.Status); err != nil {
		return err
	}
	if r.rsList, err = c.claimReplicaSets(ctx, d, sel); err != nil {
		return err
	}
	if r.pods, err = c.podsByReplicaSet(ctx, d, sel, r.rsList); err != nil {
		return err
	}
	if d.DeletionTimestamp != nil {
		// Being deleted (in the foreground, its ReplicaSets with it):
		// nothing is scaled or made; the status stays true.
		newRS, old, err := c.replicaSets(ctx, r, false)
		if err != nil {
			return err
		}
		return c.syncDeploymentStatus(ctx, r, withNew(old, newRS), newRS)
	}
	c.checkPausedConditions(r)
	if d.Spec.Paused {
		return c.syncScale(ctx, r)
	}
	scaling, err := c.isScalingEvent(ctx, r)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, r)
	}
	if d.Spec.Strategy.Type == api.RecreateStrategy {
		return c.rolloutRecreate(ctx, r)
	}
	return c.rolloutRolling(ctx, r)
}

// claimReplicaSets returns the ReplicaSets the Deployment controls,
// adopting matching orphans. They are copies: the rollout changes them in
// place before writing them.
func (c *deploymentController) claimReplicaSets(ctx context.Context, d *api.Deployment, sel api.Selector) ([]*api.ReplicaSet, error) {
	claimed, err := newClaimer(c.store, d, sel).claim(ctx, c.cache.candidates(api.KindReplicaSet, d, sel))
	if err != nil {
		return nil, err
	}
	out := make([]*api.ReplicaSet, len(claimed))
	for i, o := range claimed {
		out[i] = informer.Copy(o.(*api.ReplicaSet))
	}
	return out, nil
}

// podsByReplicaSet groups the Deployment's pods by the ReplicaSet that
// controls them, from the informer's owner index. The pods are shared:
// read only.
func (c *deploymentController) podsByReplicaSet(_ context.Context, _ *api.Deployment, _ api.Selector, sets []*api.ReplicaSet) (map[string][]*api.Pod, error) {
	out := make(map[string][]*api.Pod, len(sets))
	for _, rs := range sets {
		var pods []*api.Pod
		for _, o := range c.cache.inf.Cache(api.KindPod).ByOwner(rs.UID) {
			if ref := o.GetObjectMeta().ControllerRef(); ref != nil && ref.UID == rs.UID {
				pods = append(pods, o.(*api.Pod))
			}
		}
		out[rs.UID] = pods
	}
	return out, nil
}

// findNewReplicaSet returns the oldest ReplicaSet whose template is the
// Deployment's (whatever its hash), or nil.
func findNewReplicaSet(d *api.Deployment, sets []*api.ReplicaSet) *api.ReplicaSet {
	sorted := append([]*api.ReplicaSet(nil), sets...)
	sortOlderFirst(sorted)
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// replicaSets splits the Deployment's ReplicaSets into the new one (created
// if asked and missing) and all the old ones, raising the new one's revision
// above the old ones.
func (c *deploymentController) replicaSets(ctx context.Context, r *rollout, create bool) (*api.ReplicaSet, []*api.ReplicaSet, error) {
	newRS := findNewReplicaSet(r.d, r.rsList)
	var old []*api.ReplicaSet
	for _, rs := range r.rsList {
		if newRS == nil || rs.UID != newRS.UID {
			old = append(old, rs)
		}
	}
	newRS, err := c.getNewReplicaSet(ctx, r, newRS, old, create)
	return newRS, old, err
}

func (c *deploymentController) getNewReplicaSet(ctx context.Context, r *rollout, existing *api.ReplicaSet, old []*api.ReplicaSet, create bool) (*api.ReplicaSet, error) {
	d := r.d
	newRevision := maxRevision(old) + 1
	if existing != nil {
		return c.syncExistingNewReplicaSet(ctx, r, existing, newRevision)
	}
	if !create {
		return nil, nil
	}
	rs, err := c.newReplicaSetFor(r, old, newRevision)
	if err != nil {
		return nil, err
	}
	created, err := c.store.Create(ctx, rs)
	switch {
	case api.IsAlreadyExists(err):
		return c.handleNameTaken(ctx, r, rs.Name)
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setDeploymentCondition(&d.Status, newDeploymentCondition(api.DeploymentProgressing, api.ConditionFalse, ReasonReplicaSetCreateError, msg, r.now))
			_ = c.writeStatus(ctx, r, d.Status) // the create error is the one to report
		}
		c.rec.Eventf(d, api.EventWarning, ReasonFailedCreate, "%s", msg)
		return nil, fmt.Errorf("create replicaset %s: %w", keyOf(rs), err)
	}
	newRS := created.(*api.ReplicaSet)
	if n := replicasOf(newRS.Spec.Replicas); n > 0 {
		c.rec.Eventf(d, api.EventNormal, ReasonScalingReplicaSet, "Scaled up replica set %s to %d", newRS.Name, n)
	}
	if hasProgressDeadline(d) {
		setDeploymentCondition(&d.Status, newDeploymentCondition(api.DeploymentProgressing, api.ConditionTrue,
			ReasonNewReplicaSetCreated, fmt.Sprintf("Created new replica set %q", newRS.Name), r.now))
	}
	r.rsList = append(r.rsList, newRS)
	r.pods[newRS.UID] = nil
	return newRS, nil
}

// syncExistingNewReplicaSet keeps the new ReplicaSet's annotations and
// minReadySeconds in step with the Deployment; a reused ReplicaSet (a
// rollback) gets the next revision here.
func (c *deploymentController) syncExistingNewReplicaSet(ctx context.Context, r *rollout, rs *api.ReplicaSet, newRevision int64) (*api.ReplicaSet, error) {
	d := r.d
	changed := setNewReplicaSetAnnotations(d, rs, newRevision, true)
	if changed || rs.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
		rs.Spec.MinReadySeconds = d.Spec.MinReadySeconds
		if err := c.updateReplicaSet(ctx, rs); err != nil {
			return nil, err
		}
	}
	if hasProgressDeadline(d) && api.FindCondition(d.Status.Conditions, api.DeploymentProgressing) == nil {
		setDeploymentCondition(&d.Status, newDeploymentCondition(api.DeploymentProgressing, api.ConditionTrue,
			ReasonFoundNewReplicaSet, fmt.Sprintf("Found new replica set %q", rs.Name), r.now))
	}
	return rs, nil
}

// newReplicaSetFor builds the ReplicaSet of the Deployment's current
// template: named <deployment>-<hash>, the hash in its labels, selector and
// template labels, sized as the strategy allows.
func (c *deploymentController) newReplicaSetFor(r *rollout, old []*api.ReplicaSet, revision int64) (*api.ReplicaSet, error) {
	d := r.d
	hash, err := computeHash(&d.Spec.Template, d.Status.CollisionCount)
	if err != nil {
		return nil, err
	}
	tmpl, err := deepCopy(d.Spec.Template)
	if err != nil {
		return nil, err
	}
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[api.LabelPodTemplateHash] = hash
	sel, err := deepCopy(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[api.LabelPodTemplateHash] = hash
	rs := &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			Labels:          copyMap(tmpl.Labels),
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(d)},
		},
		Spec: api.ReplicaSetSpec{Replicas: api.Int32(0), MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: tmpl},
	}
	*rs.Spec.Replicas = c.newRSNewReplicas(r, withNew(old, rs), rs)
	setNewReplicaSetAnnotations(d, rs, revision, false)
	return rs, nil
}

// handleNameTaken: the new ReplicaSet's name exists. If it is ours with our
// template, it is the new ReplicaSet (our list was behind); otherwise the
// hash collides and the collision count moves the next hash elsewhere.
func (c *deploymentController) handleNameTaken(ctx context.Context, r *rollout, name string) (*api.ReplicaSet, error) {
	d := r.d
	obj, err := c.store.Get(ctx, api.KindReplicaSet, d.Namespace, name)
	if err != nil {
		return nil, fmt.Errorf("get replicaset %s/%s after a name clash: %w", d.Namespace, name, err)
	}
	rs := obj.(*api.ReplicaSet)
	if isControlledBy(rs, d.UID) && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
		return rs, nil
	}
	var n int32
	if d.Status.CollisionCount != nil {
		n = *d.Status.CollisionCount
	}
	d.Status.CollisionCount = api.Int32(n + 1)
	if err := c.writeStatus(ctx, r, d.Status); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("deployment %s: replicaset %s exists: %w", keyOf(d), name, errHashCollision)
}

// isScalingEvent: an active ReplicaSet was sized for another replica count
// than the Deployment now asks.
func (c *deploymentController) isScalingEvent(ctx context.Context, r *rollout) (bool, error) {
	newRS, old, err := c.replicaSets(ctx, r, false)
	if err != nil {
		return false, err
	}
	want := replicasOf(r.d.Spec.Replicas)
	for _, rs := range activeSets(withNew(old, newRS)) {
		if desired, ok := intAnnotation(rs, api.AnnotationDesiredReplicas); ok && desired != want {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles a paused Deployment or a change of replicas: resize the
// ReplicaSets proportionally, without starting a rollout.
func (c *deploymentController) syncScale(ctx context.Context, r *rollout) error {
	newRS, old, err := c.replicaSets(ctx, r, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, r, newRS, old); err != nil {
		return err
	}
	if r.d.Spec.Paused {
		if err := c.cleanupDeployment(ctx, r, old); err != nil {
			return err
		}
	}
	return c.syncDeploymentStatus(ctx, r, withNew(old, newRS), newRS)
}

// scale spreads a change of replicas over the ReplicaSets in proportion to
// their sizes, as Kubernetes does, so that resizing in the middle of a
// rollout neither hastens nor reverses it.
func (c *deploymentController) scale(ctx context.Context, r *rollout, newRS *api.ReplicaSet, old []*api.ReplicaSet) error {
	d := r.d
	want := replicasOf(d.Spec.Replicas)
	if rs := findActiveOrLatest(newRS, old); rs != nil {
		if replicasOf(rs.Spec.Replicas) == want {
			return nil
		}
		_, err := c.scaleReplicaSet(ctx, r, rs, want)
		return err
	}
	if isSaturated(d, newRS, r.available(newRS)) {
		for _, rs := range activeSets(old) {
			if _, err := c.scaleReplicaSet(ctx, r, rs, 0); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	all := activeSets(withNew(old, newRS))
	var allowed int32
	if want > 0 {
		allowed = want + maxSurge(d)
	}
	toAdd := allowed - specReplicas(all)
	if toAdd == 0 {
		return nil
	}
	sortBySize(all, toAdd > 0)
	sizes := make([]int32, len(all))
	var added int32
	for i, rs := range all {
		p := getProportion(rs, d, toAdd, added)
		sizes[i] = replicasOf(rs.Spec.Replicas) + p
		added += p
	}
	// The rounding leftover goes to the largest ReplicaSet.
	sizes[0] = max(sizes[0]+toAdd-added, 0)
	for i, rs := range all {
		if _, err := c.scaleReplicaSet(ctx, r, rs, sizes[i]); err != nil {
			return err
		}
	}
	return nil
}

// scaleReplicaSet sets a ReplicaSet's replicas and the replica annotations;
// it reports whether the size changed.
func (c *deploymentController) scaleReplicaSet(ctx context.Context, r *rollout, rs *api.ReplicaSet, size int32) (bool, error) {
	d := r.d
	old := replicasOf(rs.Spec.Replicas)
	resized := old != size
	annotated := setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d))
	if !resized && !annotated {
		return false, nil
	}
	rs.Spec.Replicas = api.Int32(size)
	if err := c.updateReplicaSet(ctx, rs); err != nil {
		return false, err
	}
	if resized {
		dir := "up"
		if size < old {
			dir = "down"
		}
		c.rec.Eventf(d, api.EventNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s to %d from %d", dir, rs.Name, size, old)
		c.log.Debug("scaled replicaset", "deployment", keyOf(d), "replicaset", rs.Name, "from", old, "to", size)
	}
	return resized, nil
}

// updateReplicaSet writes rs (compare-and-swap on its resourceVersion) and
// refreshes it in place, so every slice holding it sees the new version.
func (c *deploymentController) updateReplicaSet(ctx context.Context, rs *api.ReplicaSet) error {
	got, err := c.store.Update(ctx, rs)
	if err != nil {
		return fmt.Errorf("update replicaset %s: %w", keyOf(rs), err)
	}
	*rs = *got.(*api.ReplicaSet)
	return nil
}

// cleanupDeployment deletes the oldest old ReplicaSets beyond
// revisionHistoryLimit, only those scaled to zero with no pods left.
func (c *deploymentController) cleanupDeployment(ctx context.Context, r *rollout, old []*api.ReplicaSet) error {
	limit := r.d.Spec.RevisionHistoryLimit
	if limit == nil {
		return nil
	}
	sets := append([]*api.ReplicaSet(nil), old...)
	diff := len(sets) - int(*limit)
	if diff <= 0 {
		return nil
	}
	sortByRevision(sets)
	for _, rs := range sets[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration ||
			r.count(rs).active != 0 {
			continue
		}
		_, err := c.store.Delete(ctx, api.KindReplicaSet, rs.Namespace, rs.Name, api.DeleteOptions{UID: rs.UID})
		if err != nil && !api.IsNotFound(err) {
			return fmt.Errorf("delete old replicaset %s: %w", keyOf(rs), err)
		}
		c.log.Debug("deleted old replicaset beyond the history limit", "deployment", keyOf(r.d), "replicaset", rs.Name)
	}
	return nil
}

// checkPausedConditions records pausing and resuming in the Progressing
// condition, so that time spent paused never counts against the progress
// deadline.
func (c *deploymentController) checkPausedConditions(r *rollout) {
	d := r.d
	if !hasProgressDeadline(d) {
		return
	}
	cond := api.FindCondition(d.Status.Conditions, api.DeploymentProgressing)
	if cond != nil && cond.Reason == ReasonProgressDeadlineExceeded {
		return
	}
	paused := cond != nil && cond.Reason == ReasonDeploymentPaused
	switch {
	case d.Spec.Paused && !paused:
		setDeploymentCondition(&d.Status, newDeploymentCondition(api.DeploymentProgressing, api.ConditionUnknown, ReasonDeploymentPaused, "Deployment is paused", r.now))
	case !d.Spec.Paused && paused:
		setDeploymentCondition(&d.Status, newDeploymentCondition(api.DeploymentProgressing, api.ConditionUnknown, ReasonDeploymentResumed, "Deployment is resumed", r.now))
	}
}
