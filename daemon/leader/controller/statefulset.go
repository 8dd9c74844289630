package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/leader/workqueue"
	"github.com/shoal-dev/shoal/registry/informer"
)

// statefulSetController runs the pods of StatefulSets as Kubernetes'
// pkg/controller/statefulset does: pods named <set>-<ordinal> with the
// hostname of that name and the subdomain of the set's Service, each with
// its own claims made from the volume claim templates. OrderedReady sets
// create their pods in ordinal order, each once the one before is Running
// and Ready (and available for minReadySeconds), and remove them from the
// highest ordinal down, one at a time; Parallel sets do both at once. A
// pod that failed or was deleted is made again with the same name and the
// same claims, which the scheduler keeps on their node.
//
// Each template revision is kept as a ControllerRevision "<set>-<hash>"
// owned by the set, as in Kubernetes; status.updateRevision names the
// current template's, status.currentRevision the one the pods ran before a
// rolling update finished, and each pod's controller-revision-hash label
// the one it was made from. A pod below the rolling update's partition is
// made again from the current revision.
type statefulSetController struct {
	store   Store
	cache   cache
	rec     Recorder
	log     *slog.Logger
	opts    Options
	queue   *workqueue.Queue
	creates *expectations
	deletes *expectations
	pods    *ownedPods
}

func newStatefulSetController(ctx context.Context, store Store, cache cache, rec Recorder, log *slog.Logger, opts Options) *statefulSetController {
	return &statefulSetController{
		store:   store,
		cache:   cache,
		rec:     rec,
		log:     log.With("component", "statefulset"),
		opts:    opts,
		queue:   workqueue.NewWithBackoff(ctx, opts.BackoffBase, opts.BackoffMax),
		creates: newExpectations(opts.ExpectationsTimeout, opts.Now),
		deletes: newExpectations(opts.ExpectationsTimeout, opts.Now),
		pods:    newOwnedPods(api.KindStatefulSet),
	}
}

func (c *statefulSetController) loop() *loop {
	return &loop{
		name: "statefulset", cache: c.cache, log: c.log, queue: c.queue,
		workers: c.opts.Workers, period: c.opts.ResyncPeriod,
		watches: []watchSpec{
			{kind: api.KindStatefulSet, handle: c.onStatefulSet},
			{kind: api.KindPod, handle: c.onPod},
			{kind: api.KindClaim, handle: c.onClaim},
			{kind: api.KindRevision, handle: c.onRevision},
		},
		sync:   c.sync,
		resync: func(context.Context) error { return enqueueAll(c.cache, api.KindStatefulSet, c.queue) },
	}
}

func (c *statefulSetController) onStatefulSet(_ context.Context, ev api.WatchEvent) {
	key := keyOf(ev.Object)
	if ev.Type == api.Deleted {
		c.creates.forget(key)
		c.deletes.forget(key)
		return
	}
	c.queue.Add(key)
}

func (c *statefulSetController) onPod(ctx context.Context, ev api.WatchEvent) {
	podHandler{pods: c.pods, creates: c.creates, deletes: c.deletes, queue: c.queue, selecting: c.enqueueSelecting}.onPod(ctx, ev)
}

// onClaim queues the set whose pod a claim is for when the claim goes, so
// that a claim deleted under a running pod is made again.
func (c *statefulSetController) onClaim(_ context.Context, ev api.WatchEvent) {
	if ev.Type != api.Deleted {
		return
	}
	m := ev.Object.GetObjectMeta()
	for _, o := range c.cache.list(api.KindStatefulSet, m.Namespace, nil) {
		set := o.(*api.StatefulSet)
		for _, t := range set.Spec.VolumeClaimTemplates {
			if strings.HasPrefix(m.Name, t.Name+"-"+set.Name+"-") {
				c.queue.Add(keyOf(set))
			}
		}
	}
}

// onRevision queues the set that controls a revision.
func (c *statefulSetController) onRevision(_ context.Context, ev api.WatchEvent) {
	m := ev.Object.GetObjectMeta()
	if ref := m.ControllerRef(); ref != nil && ref.Kind == api.KindStatefulSet.Kind {
		c.queue.Add(keyFor(m.Namespace, ref.Name))
	}
}

// enqueueSelecting queues the sets whose selector matches an orphan pod.
func (c *statefulSetController) enqueueSelecting(_ context.Context, pod *api.Pod) {
	for _, o := range c.cache.list(api.KindStatefulSet, pod.Namespace, nil) {
		set := o.(*api.StatefulSet)
		if sel, err := set.Spec.Selector.AsSelector(); err == nil && !sel.Empty() && sel.Matches(pod.Labels) {
			c.queue.Add(keyOf(set))
		}
	}
}

// ordinalOf parses the ordinal from a pod named <set>-<ordinal>; ok is
// false for a pod whose name is not of that form.
func ordinalOf(set, pod string) (int32, bool) {
	rest, found := strings.CutPrefix(pod, set+"-")
	if !found || rest == "" || (len(rest) > 1 && rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseInt(rest, 10, 32)
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}

// stsRun is what one sync of one StatefulSet works on.
type stsRun struct {
	key       string
	set       *api.StatefulSet
	now       time.Time
	hash      string
	update    string                    // the update revision: <set>-<hash>
	current   string                    // the current revision
	revisions []*api.ControllerRevision // the set's, by revision number
	// currentTemplate is the template of the current revision; nil when
	// its revision is gone.
	currentTemplate *api.PodTemplateSpec
	replicas        map[int32]*api.Pod // pods with an ordinal in range
	condemned       []*api.Pod         // pods with an ordinal out of range, highest first
	claims          map[string]*api.PersistentVolumeClaim
	wait            time.Duration // until a ready pod becomes available, if > 0
}

func (r *stsRun) start() int32 { return r.set.StartOrdinal() }
func (r *stsRun) end() int32   { return r.set.StartOrdinal() + *r.set.Spec.Replicas }

// healthy: Running, Ready and available for minReadySeconds, and not
// being deleted, as Kubernetes' isHealthy (with the availability check).
func (r *stsRun) healthy(p *api.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != api.PodRunning {
		return false
	}
	if d, ok := availableIn(p, r.set.Spec.MinReadySeconds, r.now); ok {
		if r.wait == 0 || d < r.wait {
			r.wait = d
		}
	}
	return isPodAvailable(p, r.set.Spec.MinReadySeconds, r.now)
}

func (r *stsRun) monotonic() bool {
	return r.set.Spec.PodManagementPolicy != api.ParallelPodManagement
}

// sync brings one StatefulSet's pods and claims to its spec and writes
// its status.
func (c *statefulSetController) sync(ctx context.Context, key string) error {
	ns, name := splitKey(key)
	obj, ok := c.cache.get(api.KindStatefulSet, ns, name)
	if !ok {
		c.creates.forget(key)
		c.deletes.forget(key)
		return nil
	}
	set := informer.Copy(obj.(*api.StatefulSet)) // its status is written below
	if set.DeletionTimestamp != nil {
		return nil // the garbage collector removes its pods
	}
	sel, err := set.Spec.Selector.AsSelector()
	if err != nil || sel.Empty() {
		c.rec.Eventf(set, api.EventWarning, ReasonSelectorInvalid, "Invalid selector: %v", err)
		return nil
	}
	// Read before the pods are listed: a pod seen (and counted) between
	// the two reads would otherwise be missing from the list and made again.
	processed := c.creates.satisfied(key) && c.deletes.satisfied(key)
	r, err := c.observe(ctx, key, set, sel)
	if err != nil {
		return err
	}
	var manageErr error
	if processed {
		manageErr = c.manage(ctx, r)
	}
	if err := c.writeStatus(ctx, r, processed); err != nil {
		return err
	}
	if manageErr != nil {
		return manageErr
	}
	if r.wait > 0 {
		c.queue.AddAfter(key, r.wait+10*time.Millisecond)
	}
	return nil
}

func (c *statefulSetController) observe(ctx context.Context, key string, set *api.StatefulSet, sel api.Selector) (*stsRun, error) {
	hash, err := computeHash(&set.Spec.Template, set.Status.CollisionCount)
	if err != nil {
		return nil, err
	}
	r := &stsRun{key: key, set: set, now: c.opts.Now(), hash: hash, update: set.Name + "-" + hash,
		replicas: map[int32]*api.Pod{}, claims: map[string]*api.PersistentVolumeClaim{}}
	r.current = set.Status.CurrentRevision
	if r.current == "" {
		r.current = r.update
	}
	// Only pods named as the set's pods are its members (Kubernetes'
	// isMemberOf); others its selector matches are left alone.
	var members []api.Object
	for _, o := range c.cache.candidates(api.KindPod, set, sel) {
		if _, ok := ordinalOf(set.Name, o.GetObjectMeta().Name); ok {
			members = append(members, o)
		}
	}
	claimed, err := newClaimer(c.store, set, sel).claim(ctx, members)
	if err != nil {
		return nil, err
	}
	for _, o := range claimed {
		p := o.(*api.Pod)
		ord, _ := ordinalOf(set.Name, p.Name)
		if ord >= r.start() && ord < r.end() {
			r.replicas[ord] = p
		} else {
			r.condemned = append(r.condemned, p)
		}
	}
	sort.Slice(r.condemned, func(i, j int) bool {
		a, _ := ordinalOf(set.Name, r.condemned[i].Name)
		b, _ := ordinalOf(set.Name, r.condemned[j].Name)
		return a > b
	})
	for _, o := range c.cache.list(api.KindRevision, set.Namespace, nil) {
		if ref := o.GetObjectMeta().ControllerRef(); ref != nil && ref.UID == set.UID {
			r.revisions = append(r.revisions, o.(*api.ControllerRevision))
		}
	}
	sort.Slice(r.revisions, func(i, j int) bool { return r.revisions[i].Revision < r.revisions[j].Revision })
	for _, rev := range r.revisions {
		if rev.Name == r.current {
			if t, err := revisionTemplate(rev); err == nil {
				r.currentTemplate = t
			}
		}
	}
	if r.current == r.update {
		r.currentTemplate = &set.Spec.Template
	}
	for _, o := range c.cache.list(api.KindClaim, set.Namespace, nil) {
		cl := o.(*api.PersistentVolumeClaim)
		r.claims[cl.Name] = cl
	}
	return r, nil
}

// manage is Kubernetes' updateStatefulSet: make missing and replace failed
// pods in ordinal order, remove the condemned from the highest down, then
// take a rolling update one step further. In OrderedReady mode every step
// waits for the pods before it to be healthy.
func (c *statefulSetController) manage(ctx context.Context, r *stsRun) error {
	if err := c.ensureRevision(ctx, r); err != nil {
		return err
	}
	var errs []error
	defer func() {
		if errors.Join(errs...) == nil {
			c.truncateHistory(ctx, r)
		}
	}()
	monotonic := r.monotonic()
	var create []int32
	var del []*api.Pod
	unhealthy := false
	for ord := r.start(); ord < r.end(); ord++ {
		p := r.replicas[ord]
		switch {
		case p == nil:
			create = append(create, ord)
		case p.DeletionTimestamp != nil:
			// Made again with the same name once it is gone.
		case api.IsPodTerminal(p):
			del = append(del, p)
		default:
			if err := c.ensureClaims(ctx, r, ord, p); err != nil {
				errs = append(errs, err)
			}
		}
		if p == nil || !r.healthy(p) {
			unhealthy = true
			if monotonic {
				break
			}
		}
	}
	if monotonic {
		// One change at a time: the lowest missing or failed pod, once
		// every pod below it is healthy.
		create, del = firstOnly(create, del, r.set.Name)
	}
	if len(del) > 0 || len(create) > 0 {
		errs = append(errs, c.deletePods(ctx, r, del))
		errs = append(errs, c.createPods(ctx, r, create))
		return errors.Join(errs...)
	}
	// Scale down, highest ordinal first; in OrderedReady mode one at a
	// time and only while every pod in range is healthy.
	var condemned []*api.Pod
	for _, p := range r.condemned {
		if p.DeletionTimestamp != nil {
			if monotonic {
				return errors.Join(errs...)
			}
			continue
		}
		condemned = append(condemned, p)
		if monotonic {
			if unhealthy && r.healthy(p) {
				return errors.Join(errs...)
			}
			break
		}
	}
	if len(condemned) > 0 {
		errs = append(errs, c.deletePods(ctx, r, condemned))
		return errors.Join(errs...)
	}
	errs = append(errs, c.deleteScaledClaims(ctx, r))
	if unhealthy && monotonic || r.set.Spec.UpdateStrategy.Type != api.RollingUpdateStrategy {
		return errors.Join(errs...)
	}
	errs = append(errs, c.deletePods(ctx, r, r.rollingUpdate()))
	return errors.Join(errs...)
}

// firstOnly keeps the single lowest ordinal to act on: a pod to make or a
// failed pod to delete.
func firstOnly(create []int32, del []*api.Pod, set string) ([]int32, []*api.Pod) {
	delOrd := int32(-1)
	if len(del) > 0 {
		delOrd, _ = ordinalOf(set, del[0].Name)
	}
	switch {
	case len(create) > 0 && (delOrd < 0 || create[0] < delOrd):
		return create[:1], nil
	case len(del) > 0:
		return nil, del[:1]
	}
	return nil, nil
}

// rollingUpdate picks the pods to replace: from the highest ordinal down to
// the partition, a pod of an older revision once no more than
// maxUnavailable pods in that range are unavailable.
func (r *stsRun) rollingUpdate() []*api.Pod {
	ru := r.set.Spec.UpdateStrategy.RollingUpdate
	partition := r.start()
	maxUnavailable := int32(1)
	if ru != nil {
		if ru.Partition != nil {
			partition = r.start() + *ru.Partition
		}
		if ru.MaxUnavailable != nil {
			if v, err := scaled(ru.MaxUnavailable, *r.set.Spec.Replicas, false); err == nil && v > 1 {
				maxUnavailable = v
			}
		}
	}
	var unavailable int32
	for ord := partition; ord < r.end(); ord++ {
		if p := r.replicas[ord]; p == nil || !r.healthy(p) {
			unavailable++
		}
	}
	var out []*api.Pod
	for ord := r.end() - 1; ord >= partition && unavailable < maxUnavailable; ord-- {
		p := r.replicas[ord]
		if p == nil || p.DeletionTimestamp != nil || p.Labels[api.LabelControllerRevision] == r.update {
			continue
		}
		out = append(out, p)
		if r.healthy(p) {
			unavailable++
		}
	}
	return out
}

// newPod makes the pod of an ordinal: at the current revision below the
// rolling update's partition, at the update revision elsewhere.
func (r *stsRun) newPod(ord int32) (*api.Pod, error) {
	rev, tmpl := r.update, &r.set.Spec.Template
	if ru := r.set.Spec.UpdateStrategy.RollingUpdate; r.set.Spec.UpdateStrategy.Type == api.RollingUpdateStrategy && ru != nil &&
		ru.Partition != nil && ord < r.start()+*ru.Partition && r.currentTemplate != nil {
		rev, tmpl = r.current, r.currentTemplate
	}
	pod, err := newPodFromTemplate(r.set, tmpl)
	if err != nil {
		return nil, err
	}
	name := api.StatefulSetPodName(r.set.Name, ord)
	pod.GenerateName = ""
	pod.Name = name
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[api.LabelStatefulSetPodName] = name
	pod.Labels[api.LabelPodIndex] = strconv.Itoa(int(ord))
	pod.Labels[api.LabelControllerRevision] = rev
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = r.set.Spec.ServiceName
	// Each claim template becomes the pod's own claim, mounted under the
	// template's name; a template volume of that name is replaced.
	for _, t := range r.set.Spec.VolumeClaimTemplates {
		v := api.Volume{Name: t.Name, PersistentVolumeClaim: &api.PersistentVolumeClaimSource{ClaimName: api.StatefulSetClaimName(t.Name, r.set.Name, ord)}}
		replaced := false
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == t.Name {
				pod.Spec.Volumes[i], replaced = v, true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, v)
		}
	}
	return pod, nil
}

// newClaim makes the claim of an ordinal from a template: the template's
// labels and the set's selector labels, as Kubernetes does, and the set as
// its owner when the claims go with the set.
func (r *stsRun) newClaim(t *api.PersistentVolumeClaim, ord int32) *api.PersistentVolumeClaim {
	labels := copyMap(t.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	for k, v := range r.set.Spec.Selector.MatchLabels {
		labels[k] = v
	}
	cl := &api.PersistentVolumeClaim{
		ObjectMeta: api.ObjectMeta{Name: api.StatefulSetClaimName(t.Name, r.set.Name, ord), Namespace: r.set.Namespace,
			Labels: labels, Annotations: copyMap(t.Annotations)},
		Spec: t.Spec,
	}
	if r.deleteClaimsWithSet() {
		cl.OwnerReferences = []api.OwnerReference{claimOwnerRef(r.set)}
	}
	return cl
}

func (r *stsRun) deleteClaimsWithSet() bool {
	rp := r.set.Spec.PersistentVolumeClaimRetentionPolicy
	return rp != nil && rp.WhenDeleted == api.DeleteClaimPolicy
}

// claimOwnerRef makes the set an owner, not the controller, of a claim:
// the garbage collector deletes the claim with the set.
func claimOwnerRef(set *api.StatefulSet) api.OwnerReference {
	ref := api.NewControllerRef(set)
	ref.Controller = nil
	ref.BlockOwnerDeletion = nil
	return ref
}

// ensureClaims makes the claims of an ordinal that are missing, and sets
// or clears the set's owner reference on those there as whenDeleted says.
func (c *statefulSetController) ensureClaims(ctx context.Context, r *stsRun, ord int32, pod *api.Pod) error {
	podName := api.StatefulSetPodName(r.set.Name, ord)
	var errs []error
	for i := range r.set.Spec.VolumeClaimTemplates {
		t := &r.set.Spec.VolumeClaimTemplates[i]
		want := r.newClaim(t, ord)
		have, ok := r.claims[want.Name]
		if !ok {
			if pod != nil {
				// A running pod's claim was deleted under it; Kubernetes
				// makes it again too.
				c.log.Debug("claim of a running pod is missing", "claim", want.Name)
			}
			_, err := c.store.Create(ctx, want)
			if err != nil && !api.IsAlreadyExists(err) {
				c.rec.Eventf(r.set, api.EventWarning, ReasonFailedCreate, "create Claim %s for Pod %s in StatefulSet %s failed error: %v",
					want.Name, podName, r.set.Name, err)
				errs = append(errs, fmt.Errorf("create claim %s: %w", want.Name, err))
				continue
			}
			if err == nil {
				c.rec.Eventf(r.set, api.EventNormal, ReasonSuccessfulCreate, "create Claim %s Pod %s in StatefulSet %s success",
					want.Name, podName, r.set.Name)
			}
			continue
		}
		if err := c.fixClaimOwner(ctx, r, have); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *statefulSetController) fixClaimOwner(ctx context.Context, r *stsRun, cl *api.PersistentVolumeClaim) error {
	idx := -1
	for i, ref := range cl.OwnerReferences {
		if ref.UID == r.set.UID {
			idx = i
		}
	}
	want := r.deleteClaimsWithSet()
	if want == (idx >= 0) {
		return nil
	}
	cl = informer.Copy(cl)
	if want {
		cl.OwnerReferences = append(cl.OwnerReferences, claimOwnerRef(r.set))
	} else {
		cl.OwnerReferences = append(cl.OwnerReferences[:idx:idx], cl.OwnerReferences[idx+1:]...)
	}
	if _, err := c.store.Update(ctx, cl); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update owners of claim %s: %w", keyOf(cl), err)
	}
	return nil
}

// deleteScaledClaims deletes, when whenScaled is Delete, the claims of
// ordinals out of range whose pod is gone.
func (c *statefulSetController) deleteScaledClaims(ctx context.Context, r *stsRun) error {
	rp := r.set.Spec.PersistentVolumeClaimRetentionPolicy
	if rp == nil || rp.WhenScaled != api.DeleteClaimPolicy || len(r.condemned) > 0 {
		return nil
	}
	var errs []error
	for _, t := range r.set.Spec.VolumeClaimTemplates {
		prefix := t.Name + "-"
		for name, cl := range r.claims {
			rest, ok := strings.CutPrefix(name, prefix)
			if !ok || cl.DeletionTimestamp != nil {
				continue
			}
			ord, ok := ordinalOf(r.set.Name, rest)
			if !ok || ord >= r.start() && ord < r.end() || !matchesLabels(r.set.Spec.Selector.MatchLabels, cl.Labels) {
				continue
			}
			_, err := c.store.Delete(ctx, api.KindClaim, cl.Namespace, cl.Name, api.DeleteOptions{UID: cl.UID})
			if err != nil && !api.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete claim %s: %w", keyOf(cl), err))
				continue
			}
			c.rec.Eventf(r.set, api.EventNormal, ReasonSuccessfulDelete, "delete Claim %s in StatefulSet %s successful", cl.Name, r.set.Name)
		}
	}
	return errors.Join(errs...)
}

func matchesLabels(want, have map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// createPods makes the claims and then the pods of the ordinals.
func (c *statefulSetController) createPods(ctx context.Context, r *stsRun, ords []int32) error {
	if len(ords) == 0 {
		return nil
	}
	c.creates.expectCreations(r.key, len(ords))
	var errs []error
	for _, ord := range ords {
		name := api.StatefulSetPodName(r.set.Name, ord)
		err := c.ensureClaims(ctx, r, ord, nil)
		var pod *api.Pod
		if err == nil {
			pod, err = r.newPod(ord)
		}
		if err == nil {
			_, err = c.store.Create(ctx, pod)
		}
		if err != nil {
			// The watch will not show a pod that was not made.
			c.creates.creationObserved(r.key)
			c.rec.Eventf(r.set, api.EventWarning, ReasonFailedCreate, "create Pod %s in StatefulSet %s failed error: %v", name, r.set.Name, err)
			errs = append(errs, fmt.Errorf("create pod %s: %w", name, err))
			continue
		}
		c.rec.Eventf(r.set, api.EventNormal, ReasonSuccessfulCreate, "create Pod %s in StatefulSet %s successful", name, r.set.Name)
	}
	return errors.Join(errs...)
}

func (c *statefulSetController) deletePods(ctx context.Context, r *stsRun, pods []*api.Pod) error {
	if len(pods) == 0 {
		return nil
	}
	keys := make([]string, len(pods))
	for i, p := range pods {
		keys[i] = keyOf(p)
	}
	c.deletes.expectDeletions(r.key, keys)
	var errs []error
	for i, p := range pods {
		_, err := c.store.Delete(ctx, api.KindPod, p.Namespace, p.Name, api.DeleteOptions{UID: p.UID})
		if err != nil && !api.IsNotFound(err) {
			c.deletes.deletionObserved(r.key, keys[i])
			c.rec.Eventf(r.set, api.EventWarning, ReasonFailedDelete, "delete Pod %s in StatefulSet %s failed error: %v", p.Name, r.set.Name, err)
			errs = append(errs, fmt.Errorf("delete pod %s: %w", keys[i], err))
			continue
		}
		c.rec.Eventf(r.set, api.EventNormal, ReasonSuccessfulDelete, "delete Pod %s in StatefulSet %s successful", p.Name, r.set.Name)
	}
	return errors.Join(errs...)
}

// calculateStatus counts as Kubernetes' computeReplicaStatus; the current
// revision becomes the update revision once every pod runs it and is
// ready.
func (r *stsRun) calculateStatus(processed bool) api.StatefulSetStatus {
	st := api.StatefulSetStatus{ObservedGeneration: r.set.Status.ObservedGeneration, CollisionCount: r.set.Status.CollisionCount,
		Conditions: r.set.Status.Conditions, CurrentRevision: r.current, UpdateRevision: r.update}
	if processed {
		st.ObservedGeneration = r.set.Generation
	}
	count := func(p *api.Pod) {
		if p == nil || api.IsPodTerminal(p) && p.DeletionTimestamp != nil {
			return
		}
		st.Replicas++
		if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning && api.IsPodReady(p) {
			st.ReadyReplicas++
			if isPodAvailable(p, r.set.Spec.MinReadySeconds, r.now) {
				st.AvailableReplicas++
			}
		}
		switch p.Labels[api.LabelControllerRevision] {
		case r.current:
			st.CurrentReplicas++
		case r.update:
			st.UpdatedReplicas++
		}
		if r.current == r.update && p.Labels[api.LabelControllerRevision] == r.update {
			st.UpdatedReplicas++
		}
	}
	for _, p := range r.replicas {
		count(p)
	}
	for _, p := range r.condemned {
		count(p)
	}
	if processed && st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas && st.Replicas == *r.set.Spec.Replicas {
		st.CurrentRevision = r.update
		st.CurrentReplicas = st.UpdatedReplicas
	}
	return st
}

func (c *statefulSetController) writeStatus(ctx context.Context, r *stsRun, processed bool) error {
	st := r.calculateStatus(processed)
	if jsonEqual(r.set.Status, st) {
		return nil
	}
	r.set.Status = st
	if _, err := c.store.UpdateStatus(ctx, r.set); err != nil && !api.IsNotFound(err) {
		return fmt.Errorf("update status of statefulset %s: %w", r.key, err)
	}
	return nil
}

// LabelRevisionHash is the label of a ControllerRevision that holds the
// hash of its data, as Kubernetes names it.
const LabelRevisionHash = "controller.kubernetes.io/hash"

// revisionData is a template as Kubernetes stores it in a StatefulSet's
// ControllerRevision: a patch that replaces spec.template.
func revisionData(t *api.PodTemplateSpec) (json.RawMessage, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("encode template: %w", err)
	}
	m["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": m}})
}

// revisionTemplate reads the template back from a revision's data.
func revisionTemplate(rev *api.ControllerRevision) (*api.PodTemplateSpec, error) {
	var d struct {
		Spec struct {
			Template *api.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(rev.Data, &d); err != nil || d.Spec.Template == nil {
		return nil, fmt.Errorf("controllerrevision %s holds no pod template: %v", keyOf(rev), err)
	}
	return d.Spec.Template, nil
}

// ensureRevision makes the ControllerRevision of the set's template, or
// gives an older one of the same template (a rollback) the next revision
// number. A revision of that name with other data is a hash collision:
// status.collisionCount goes up and the next sync hashes again.
func (c *statefulSetController) ensureRevision(ctx context.Context, r *stsRun) error {
	var next int64 = 1
	var have *api.ControllerRevision
	for _, rev := range r.revisions {
		next = max(next, rev.Revision+1)
		if rev.Name == r.update {
			have = rev
		}
	}
	if have != nil {
		t, err := revisionTemplate(have)
		if err != nil || !jsonEqual(t, &r.set.Spec.Template) {
			return c.collision(ctx, r)
		}
		if have.Revision == next-1 {
			return nil
		}
		have = informer.Copy(have)
		have.Revision = next
		if _, err := c.store.Update(ctx, have); err != nil {
			return fmt.Errorf("renumber controllerrevision %s: %w", keyOf(have), err)
		}
		return nil
	}
	data, err := revisionData(&r.set.Spec.Template)
	if err != nil {
		return err
	}
	labels := copyMap(r.set.Spec.Template.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[LabelRevisionHash] = r.hash
	rev := &api.ControllerRevision{
		ObjectMeta: api.ObjectMeta{Name: r.update, Namespace: r.set.Namespace, Labels: labels,
			OwnerReferences: []api.OwnerReference{api.NewControllerRef(r.set)}},
		Data: data, Revision: next,
	}
	created, err := c.store.Create(ctx, rev)
	if api.IsAlreadyExists(err) {
		// Not the set's (or not seen yet): check on the next sync.
		return fmt.Errorf("controllerrevision %s/%s exists: %w", r.set.Namespace, r.update, err)
	}
	if err != nil {
		return fmt.Errorf("create controllerrevision %s/%s: %w", r.set.Namespace, r.update, err)
	}
	r.revisions = append(r.revisions, created.(*api.ControllerRevision))
	return nil
}

func (c *statefulSetController) collision(ctx context.Context, r *stsRun) error {
	n := int32(1)
	if r.set.Status.CollisionCount != nil {
		n = *r.set.Status.CollisionCount + 1
	}
	r.set.Status.CollisionCount = &n
	if _, err := c.store.UpdateStatus(ctx, r.set); err != nil {
		return fmt.Errorf("update collision count of statefulset %s: %w", r.key, err)
	}
	return fmt.Errorf("controllerrevision %s/%s holds another template: hashing again with collisionCount %d", r.set.Namespace, r.update, n)
}

// truncateHistory deletes the oldest revisions beyond revisionHistoryLimit
// that neither the status nor a pod refers to, as Kubernetes does.
func (c *statefulSetController) truncateHistory(ctx context.Context, r *stsRun) {
	live := map[string]bool{r.current: true, r.update: true}
	for _, p := range r.replicas {
		if p != nil {
			live[p.Labels[api.LabelControllerRevision]] = true
		}
	}
	for _, p := range r.condemned {
		live[p.Labels[api.LabelControllerRevision]] = true
	}
	var old []*api.ControllerRevision
	for _, rev := range r.revisions {
		if !live[rev.Name] {
			old = append(old, rev)
		}
	}
	limit := 10
	if l := r.set.Spec.RevisionHistoryLimit; l != nil {
		limit = int(*l)
	}
	for _, rev := range old[:max(0, len(old)-limit)] {
		if _, err := c.store.Delete(ctx, api.KindRevision, rev.Namespace, rev.Name, api.DeleteOptions{UID: rev.UID}); err != nil && !api.IsNotFound(err) {
			c.log.Debug("deleting an old controllerrevision failed", "revision", keyOf(rev), "err", err)
		}
	}
}
