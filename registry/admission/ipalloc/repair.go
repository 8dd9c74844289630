package ipalloc

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Store is what Repair needs of the object store.
type Store interface {
	List(ctx context.Context, k *api.Kind, ns string, sel api.Selector) ([]api.Object, string, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
}

// Repair finds Services that share a cluster IP or a node port (two agents
// allocated the same while they could not see each other) and has the
// younger one reallocated. It runs on the leader until ctx ends; every
// agent would pick the same Service, so two leaders for a moment agree.
func Repair(ctx context.Context, store Store, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := repairOnce(ctx, store, log); err != nil && ctx.Err() == nil {
			log.Warn("service address repair failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func repairOnce(ctx context.Context, store Store, log *slog.Logger) error {
	objs, _, err := store.List(ctx, api.KindService, "", nil)
	if err != nil {
		return err
	}
	svcs := make([]*api.Service, 0, len(objs))
	for _, o := range objs {
		svcs = append(svcs, o.(*api.Service))
	}
	for _, d := range duplicates(svcs) {
		s := d.loser
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[AnnotationReallocate] = d.what
		if _, err := store.Update(ctx, s); err != nil {
			return fmt.Errorf("reallocate %s of %s/%s: %w", d.what, s.Namespace, s.Name, err)
		}
		log.Warn("two services had the same address; reallocated the younger", "service", s.Namespace+"/"+s.Name,
			"kept", d.winner.Namespace+"/"+d.winner.Name, "what", d.what)
	}
	return nil
}

type duplicate struct {
	winner, loser *api.Service
	what          string // "clusterIP" or "nodePorts"
}

// older orders services: the first created keeps its address; ties by uid.
func older(a, b *api.Service) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.Before(b.CreationTimestamp.Time)
	}
	return a.UID < b.UID
}

// duplicates finds, deterministically, each service that must give up an
// address it shares with an older one.
func duplicates(svcs []*api.Service) []duplicate {
	sort.Slice(svcs, func(i, j int) bool { return older(svcs[i], svcs[j]) })
	var out []duplicate
	ips := map[string]*api.Service{}
	ports := map[int32]*api.Service{}
	for _, s := range svcs {
		if ip := s.Spec.ClusterIP; ip != "" && ip != api.ClusterIPNone {
			if w, taken := ips[ip]; taken {
				out = append(out, duplicate{winner: w, loser: s, what: "clusterIP"})
				continue
			}
			ips[ip] = s
		}
		for _, p := range s.Spec.Ports {
			if p.NodePort == 0 {
				continue
			}
			if w, taken := ports[p.NodePort]; taken && w != s {
				out = append(out, duplicate{winner: w, loser: s, what: "nodePorts"})
				break
			}
			ports[p.NodePort] = s
		}
	}
	return out
}
