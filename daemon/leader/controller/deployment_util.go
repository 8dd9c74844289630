package controller

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Deployment condition reasons, as Kubernetes names them.
const (
	ReasonNewReplicaSetCreated       = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet         = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated          = "ReplicaSetUpdated"
	ReasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded   = "ProgressDeadlineExceeded"
	ReasonReplicaSetCreateError      = "ReplicaSetCreateError"
	ReasonDeploymentPaused           = "DeploymentPaused"
	ReasonDeploymentResumed          = "DeploymentResumed"
	ReasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	ReasonScalingReplicaSet          = "ScalingReplicaSet"

	// AnnotationRevisionHistory lists the earlier revisions a reused
	// ReplicaSet had, as in Kubernetes.
	AnnotationRevisionHistory = "deployment.kubernetes.io/revision-history"
	annotationLastApplied     = "kubectl.kubernetes.io/last-applied-configuration"
)

// safeChars is the alphabet of Kubernetes' rand.SafeEncodeString: no vowels
// (no words) and no look-alike characters.
const safeChars = "bcdfghjklmnpqrstvwxz2456789"

// safeEncodeString maps every byte of s into safeChars.
func safeEncodeString(s string) string {
	r := make([]byte, len(s))
	for i, b := range []byte(s) {
		r[i] = safeChars[int(b)%len(safeChars)]
	}
	return string(r)
}

// computeHash is the pod-template-hash of a template: FNV-32a of its JSON,
// then of the collision count (little-endian, in 8 bytes) when set, rendered
// as Kubernetes renders it.
func computeHash(t *api.PodTemplateSpec, collisionCount *int32) (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("hash pod template: %w", err)
	}
	h := fnv.New32a()
	_, _ = h.Write(b)
	if collisionCount != nil {
		buf := make([]byte, 8)
		binary.LittleEndian.PutUint32(buf, uint32(*collisionCount))
		_, _ = h.Write(buf)
	}
	return safeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10)), nil
}

// equalIgnoreHash compares two templates, ignoring the pod-template-hash
// label: a ReplicaSet made for a template matches it under any hash.
func equalIgnoreHash(a, b *api.PodTemplateSpec) bool {
	strip := func(t *api.PodTemplateSpec) api.PodTemplateSpec {
		c := *t
		c.Labels = copyMap(t.Labels)
		delete(c.Labels, api.LabelPodTemplateHash)
		if len(c.Labels) == 0 {
			c.Labels = nil
		}
		return c
	}
	return jsonEqual(strip(a), strip(b))
}

// revisionOf reads a ReplicaSet's revision annotation; 0 if absent or bad.
func revisionOf(rs *api.ReplicaSet) int64 {
	v, err := strconv.ParseInt(rs.Annotations[api.AnnotationRevision], 10, 64)
	if err != nil {
		return 0
	}
	return v
}

func maxRevision(sets []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range sets {
		m = max(m, revisionOf(rs))
	}
	return m
}

// skipCopyAnnotation: annotations of the Deployment that are not copied to
// its ReplicaSets.
func skipCopyAnnotation(k string) bool {
	switch k {
	case annotationLastApplied, api.AnnotationRevision, AnnotationRevisionHistory,
		api.AnnotationDesiredReplicas, api.AnnotationMaxReplicas:
		return true
	}
	return false
}

// setNewReplicaSetAnnotations copies the Deployment's annotations (such as
// kubernetes.io/change-cause) to its new ReplicaSet, raises its revision to
// newRevision if lower (keeping the old one in revision-history), and for a
// ReplicaSet about to be created sets the replica annotations. It reports
// whether anything changed.
func setNewReplicaSetAnnotations(d *api.Deployment, rs *api.ReplicaSet, newRevision int64, exists bool) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if cur, ok := rs.Annotations[k]; skipCopyAnnotation(k) || (ok && cur == v) {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	old, had := rs.Annotations[api.AnnotationRevision]
	if revisionOf(rs) < newRevision {
		rs.Annotations[api.AnnotationRevision] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had && old != "" {
			if h := rs.Annotations[AnnotationRevisionHistory]; h != "" {
				rs.Annotations[AnnotationRevisionHistory] = h + "," + old
			} else {
				rs.Annotations[AnnotationRevisionHistory] = old
			}
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurge(d)) {
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the Deployment size the ReplicaSet was
// scaled for; proportional scaling reads it back.
func setReplicasAnnotations(rs *api.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	changed := false
	for k, v := range map[string]int32{api.AnnotationDesiredReplicas: desired, api.AnnotationMaxReplicas: maxReplicas} {
		s := strconv.Itoa(int(v))
		if rs.Annotations[k] != s {
			rs.Annotations[k] = s
			changed = true
		}
	}
	return changed
}

func intAnnotation(rs *api.ReplicaSet, key string) (int32, bool) {
	v, err := strconv.Atoi(rs.Annotations[key])
	if err != nil {
		return 0, false
	}
	return int32(v), true
}

func isRollingUpdate(d *api.Deployment) bool {
	return d.Spec.Strategy.Type == api.RollingUpdateStrategy
}

// resolveFenceposts turns maxSurge and maxUnavailable into numbers, as
// Kubernetes does: surge rounds up, unavailable rounds down, and when both
// come out 0 unavailable becomes 1 so that the rollout can progress.
func resolveFenceposts(surge, unavailable *api.IntOrString, desired int32) (int32, int32, error) {
	s, err := scaled(surge, desired, true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	u, err := scaled(unavailable, desired, false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return s, u, nil
}

func scaled(v *api.IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	n, err := v.ScaledValue(int(total), roundUp)
	if err != nil {
		return 0, err
	}
	return int32(n), nil
}

// maxSurge is how many pods above spec.replicas a rolling update may run.
func maxSurge(d *api.Deployment) int32 {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil {
		return 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	s, _, _ := resolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, replicasOf(d.Spec.Replicas)) // validated on write
	return s
}

// maxUnavailable is how many pods below spec.replicas a rolling update may
// leave available.
func maxUnavailable(d *api.Deployment) int32 {
	want := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil || want == 0 {
		return 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	_, u, _ := resolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, want) // validated on write
	return min(u, want)
}

// specReplicas sums spec.replicas; a nil ReplicaSet counts nothing.
func specReplicas(sets []*api.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += replicasOf(rs.Spec.Replicas)
		}
	}
	return n
}

// statusSums adds up the ReplicaSets' status counts.
func statusSums(sets []*api.ReplicaSet) (replicas, ready, available int32) {
	for _, rs := range sets {
		if rs != nil {
			replicas += rs.Status.Replicas
			ready += rs.Status.ReadyReplicas
			available += rs.Status.AvailableReplicas
		}
	}
	return
}

func activeSets(sets []*api.ReplicaSet) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range sets {
		if rs != nil && replicasOf(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func withNew(old []*api.ReplicaSet, newRS *api.ReplicaSet) []*api.ReplicaSet {
	all := append([]*api.ReplicaSet(nil), old...)
	if newRS != nil {
		all = append(all, newRS)
	}
	return all
}

// olderFirst: creation time, then name, so every node orders alike.
func olderFirst(a, b *api.ReplicaSet) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	return a.Name < b.Name
}

func sortOlderFirst(sets []*api.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool { return olderFirst(sets[i], sets[j]) })
}

// sortBySize orders larger first; among equal sizes newer first when
// scaling up and older first when scaling down (Kubernetes'
// ReplicaSetsBySizeNewer and ReplicaSetsBySizeOlder).
func sortBySize(sets []*api.ReplicaSet, newerFirst bool) {
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := replicasOf(sets[i].Spec.Replicas), replicasOf(sets[j].Spec.Replicas)
		if a != b {
			return a > b
		}
		if newerFirst {
			return olderFirst(sets[j], sets[i])
		}
		return olderFirst(sets[i], sets[j])
	})
}

// sortByRevision orders the oldest revision first, for history cleanup.
func sortByRevision(sets []*api.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool {
		ri, rj := revisionOf(sets[i]), revisionOf(sets[j])
		if ri != rj {
			return ri < rj
		}
		return olderFirst(sets[i], sets[j])
	})
}

// findActiveOrLatest returns the only active ReplicaSet, or the newest one
// if none is active; nil when several are active.
func findActiveOrLatest(newRS *api.ReplicaSet, old []*api.ReplicaSet) *api.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	sorted := append([]*api.ReplicaSet(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool { return olderFirst(sorted[j], sorted[i]) })
	active := activeSets(withNew(sorted, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return active[0]
	}
	return nil
}

// getProportion is the share of a scaling event (toAdd replicas, added so
// far) that one ReplicaSet takes, from its size relative to the Deployment
// size it was last scaled for.
func getProportion(rs *api.ReplicaSet, d *api.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := replicaSetFraction(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func replicaSetFraction(rs *api.ReplicaSet, d *api.Deployment) int32 {
	size := replicasOf(rs.Spec.Replicas)
	if replicasOf(d.Spec.Replicas) == 0 {
		return -size
	}
	target := replicasOf(d.Spec.Replicas) + maxSurge(d)
	before, ok := intAnnotation(rs, api.AnnotationMaxReplicas)
	if !ok || before == 0 {
		before = d.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	return int32(math.Round(float64(size)*float64(target)/float64(before))) - size
}

// isSaturated: the new ReplicaSet runs all the Deployment's replicas,
// available.
func isSaturated(d *api.Deployment, rs *api.ReplicaSet, available int32) bool {
	if rs == nil {
		return false
	}
	desired, ok := intAnnotation(rs, api.AnnotationDesiredReplicas)
	want := replicasOf(d.Spec.Replicas)
	return ok && replicasOf(rs.Spec.Replicas) == want && desired == want && available == want
}

func hasProgressDeadline(d *api.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

// deploymentComplete: every replica is updated and available, and the
// status describes the current generation.
func deploymentComplete(d *api.Deployment, st *api.DeploymentStatus) bool {
	want := replicasOf(d.Spec.Replicas)
	return st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want &&
		st.ObservedGeneration >= d.Generation
}

// deploymentProgressing: the new status shows progress over the old one.
func deploymentProgressing(d *api.Deployment, st *api.DeploymentStatus) bool {
	old := d.Status
	return st.UpdatedReplicas > old.UpdatedReplicas ||
		st.Replicas-st.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		st.ReadyReplicas > old.ReadyReplicas ||
		st.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut: no progress was recorded for progressDeadlineSeconds.
func deploymentTimedOut(d *api.Deployment, st *api.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := api.FindCondition(st.Conditions, api.DeploymentProgressing)
	if c == nil {
		return false
	}
	switch c.Reason {
	case ReasonNewReplicaSetAvailable:
		return false
	case ReasonProgressDeadlineExceeded:
		return true
	}
	return c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second).Before(now)
}

func newDeploymentCondition(typ, status, reason, msg string, now time.Time) api.Condition {
	t := api.NewTime(now)
	return api.Condition{Type: typ, Status: status, Reason: reason, Message: msg, LastUpdateTime: t, LastTransitionTime: t}
}

// setDeploymentCondition sets c unless a condition of its type with the
// same status and reason is there; lastTransitionTime is kept when the
// status does not change. As Kubernetes' SetDeploymentCondition.
func setDeploymentCondition(st *api.DeploymentStatus, c api.Condition) {
	cur := api.FindCondition(st.Conditions, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil {
		if cur.Status == c.Status {
			c.LastTransitionTime = cur.LastTransitionTime
		}
		*cur = c
		return
	}
	st.Conditions = append(st.Conditions, c)
}
