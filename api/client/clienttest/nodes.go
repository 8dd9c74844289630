package clienttest

import (
	"context"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// runNodes plays the nodes' part in a pod's deletion: a pod marked for
// deletion (bound to a node, deleted with a grace period) is removed by its
// node once its containers stopped, here PodTermination later.
func (s *Server) runNodes(ctx context.Context) {
	pending := map[string]bool{} // uids whose removal is scheduled
	for ctx.Err() == nil {
		events, err := s.reg.Watch(ctx, api.KindPod, "", api.ListOptions{})
		if err != nil {
			return // the store closed
		}
		for ev := range events {
			p, ok := ev.Object.(*api.Pod)
			if !ok || ev.Type == api.Deleted || p.DeletionTimestamp == nil || pending[p.UID] {
				continue
			}
			pending[p.UID] = true
			remove := func() {
				_, _ = s.reg.Delete(ctx, api.KindPod, p.Namespace, p.Name,
					api.DeleteOptions{GracePeriodSeconds: api.Int64(0), UID: p.UID})
			}
			if d := s.PodTermination; d > 0 {
				time.AfterFunc(d, remove)
			} else {
				remove()
			}
		}
	}
}
