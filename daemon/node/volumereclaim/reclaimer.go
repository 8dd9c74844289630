package volumereclaim

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// Lister reads the objects the reclaimer looks at (the agent's cache).
type Lister interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
}

// Creator writes the reclaimer's answers.
type Creator interface {
	Create(ctx context.Context, obj api.Object) (api.Object, error)
}

// Config sets up a Reclaimer.
type Config struct {
	Node    string
	Engine  engine.VolumeRemover
	Objects Lister
	Answers Creator
	Log     *slog.Logger
	// Interval is how often requests are looked for (a second when zero);
	// the look is a read of the agent's cache.
	Interval time.Duration
	// EngineTimeout bounds each engine call (10 s when zero).
	EngineTimeout time.Duration
}

// Reclaimer answers the removal requests of one node.
type Reclaimer struct {
	cfg Config
	// answered holds, per namespace, the request this node answered (the
	// namespace's uid and the request), so that it is answered once; it
	// forgets namespaces that are gone.
	answered map[string]string
	failing  map[string]bool // namespaces whose last attempt failed (logged once)
	// removed holds what earlier, failed attempts of a request removed,
	// for its answer.
	removed map[string][]string
}

// New makes a Reclaimer.
func New(cfg Config) *Reclaimer {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.EngineTimeout <= 0 {
		cfg.EngineTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Log = cfg.Log.With("component", "volume-reclaim")
	return &Reclaimer{cfg: cfg, answered: map[string]string{}, failing: map[string]bool{}, removed: map[string][]string{}}
}

// Run answers requests until ctx ends.
func (r *Reclaimer) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		r.Sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sync answers every request that this node can answer now.
func (r *Reclaimer) Sync(ctx context.Context) {
	objs, _, err := r.cfg.Objects.List(ctx, api.KindNamespace, "", nil)
	if err != nil {
		r.cfg.Log.Debug("listing namespaces", "err", err)
		return
	}
	present := map[string]bool{}
	for _, o := range objs {
		m := o.GetObjectMeta()
		present[m.Name] = true
		req := m.Annotations[api.AnnotationRemoveVolumes]
		// A namespace made again (a new uid) with the same request value
		// is a new request.
		key := string(m.UID) + "/" + req
		if req == "" || r.answered[m.Name] == key {
			continue
		}
		removed, ready, err := r.reclaim(ctx, m.Name)
		removed = append(r.removed[m.Name], removed...)
		r.removed[m.Name] = removed
		if err != nil {
			if !r.failing[m.Name] {
				r.cfg.Log.Warn("removing the volumes of a namespace", "namespace", m.Name, "err", err)
			}
			r.failing[m.Name] = true
			continue
		}
		if !ready {
			continue // a pod of it is still here: next time
		}
		if err := r.answer(ctx, o.(*api.Namespace), req, removed); err != nil {
			r.cfg.Log.Debug("answering a volume removal", "namespace", m.Name, "err", err)
			continue
		}
		delete(r.failing, m.Name)
		delete(r.removed, m.Name)
		r.answered[m.Name] = key
	}
	for ns := range r.answered {
		if !present[ns] {
			delete(r.answered, ns)
		}
	}
	for ns := range r.removed {
		if !present[ns] {
			delete(r.removed, ns)
		}
	}
}

// reclaim removes this node's engine volumes of the namespace's claims and
// names them; not ready while a pod of the namespace is still on this node
// (its containers may use them).
func (r *Reclaimer) reclaim(ctx context.Context, ns string) (removed []string, ready bool, err error) {
	pods, _, err := r.cfg.Objects.List(ctx, api.KindPod, ns, nil)
	if err != nil {
		return nil, false, err
	}
	for _, p := range pods {
		if p.(*api.Pod).Spec.NodeName == r.cfg.Node {
			return nil, false, nil
		}
	}
	cctx, cancel := context.WithTimeout(ctx, r.cfg.EngineTimeout)
	vols, err := r.cfg.Engine.ListVolumes(cctx, api.ClaimVolumePrefix(ns))
	cancel()
	if err != nil {
		return nil, false, err
	}
	for _, v := range vols {
		// The name prefix of namespace "a" also matches namespace "a-b"'s
		// volumes: the label decides; a volume the engine made itself
		// (no label) goes by its name.
		if owner, ok := v.Labels[engine.LabelPodNamespace]; ok && owner != ns {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.EngineTimeout)
		err := r.cfg.Engine.RemoveVolume(cctx, v.Name)
		cancel()
		if err != nil {
			return removed, false, fmt.Errorf("%w (a stopped container of the namespace may still hold it; tried again in a moment)", err)
		}
		removed = append(removed, v.Name)
	}
	return removed, true, nil
}

// AnswerName is the name of a node's answer to a request: one per node
// and request.
func AnswerName(ns, node, req string) string {
	h := fnv.New32a()
	h.Write([]byte(req))
	return fmt.Sprintf("%s.volumes-removed.%s.%08x", ns, node, h.Sum32())
}

func (r *Reclaimer) answer(ctx context.Context, ns *api.Namespace, req string, removed []string) error {
	sort.Strings(removed)
	msg := fmt.Sprintf("node %s removed no volume of namespace %s", r.cfg.Node, ns.Name)
	if len(removed) > 0 {
		msg = fmt.Sprintf("node %s removed the volumes %s", r.cfg.Node, strings.Join(removed, ", "))
	}
	now := api.Now()
	ev := &api.Event{
		ObjectMeta: api.ObjectMeta{Namespace: ns.Name, Name: AnswerName(ns.Name, r.cfg.Node, req),
			Annotations: map[string]string{api.AnnotationRemoveVolumes: req}},
		InvolvedObject: api.ObjectReference{Kind: "Namespace", APIVersion: "v1", Name: ns.Name, UID: ns.UID},
		Reason:         api.EventReasonVolumesRemoved, Message: msg, Type: "Normal",
		Source:         api.EventSource{Component: "kubelet", Host: r.cfg.Node},
		FirstTimestamp: now, LastTimestamp: now, Count: 1, ReportingComponent: "kubelet", ReportingInstance: r.cfg.Node,
	}
	_, err := r.cfg.Answers.Create(ctx, ev)
	if api.IsAlreadyExists(err) {
		return nil // answered before this agent restarted
	}
	return err
}
