package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
)

// msgBudgetViolated is Kubernetes' own message: kubectl drain recognises a
// 429 with it and retries the eviction.
const msgBudgetViolated = "Cannot evict pod as it would violate the pod's disruption budget."

// podEviction deletes a pod if its PodDisruptionBudget allows one more
// disruption now, as Kubernetes' pods/eviction subresource: the budget's
// allowance is taken in its status first (so the next eviction sees it
// spent until the controller recounts), then the pod is deleted. A refusal
// is a 429 that drain retries.
//
// Evictions through one agent are serialised; two agents evicting pods of
// the same budget at the same moment may each spend the same allowance (the
// store has no cross-agent transactions), which a drain through one agent
// never does.
func (s *Server) podEviction(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	ns, name := v["namespace"], v["name"]
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var ev api.Eviction
	if err := json.Unmarshal(body, &ev); err != nil {
		writeError(w, api.NewBadRequest("the body is not an Eviction: "+err.Error()))
		return
	}
	if ev.Name != "" && ev.Name != name {
		writeError(w, api.NewBadRequest(fmt.Sprintf("metadata.name: the Eviction names %q but the path names pod %q", ev.Name, name)))
		return
	}
	opts := api.DeleteOptions{}
	if d := ev.DeleteOptions; d != nil {
		if len(d.DryRun) > 0 {
			writeError(w, api.NewBadRequest("deleteOptions.dryRun: dry runs are not supported; leave it out"))
			return
		}
		if g := d.GracePeriodSeconds; g != nil && *g < 0 {
			writeError(w, api.NewBadRequest("deleteOptions.gracePeriodSeconds: must be a non-negative integer"))
			return
		}
		opts.GracePeriodSeconds = d.GracePeriodSeconds
		if pc := d.Preconditions; pc != nil && pc.UID != nil {
			opts.UID = *pc.UID
		}
	}
	s.evictions.Lock()
	defer s.evictions.Unlock()
	// A conflict is retried unless it is the caller's own precondition.
	if _, err := retryConflicts(r.Context(), func() (api.Object, bool, error) {
		out, err := s.evictOnce(r.Context(), ns, name, opts)
		return out, api.IsConflict(err) && opts.UID == "", err
	}); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.Status{TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Success", Code: http.StatusCreated})
}

func (s *Server) evictOnce(ctx context.Context, ns, name string, opts api.DeleteOptions) (api.Object, error) {
	obj, err := s.cfg.Store.Get(ctx, api.KindPod, ns, name)
	if err != nil {
		return nil, err
	}
	pod := obj.(*api.Pod)
	if opts.UID != "" && opts.UID != pod.UID {
		return nil, api.NewConflict(api.KindPod, name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", opts.UID, pod.UID))
	}
	opts.UID = pod.UID
	// A pod that is finished or already going costs no budget.
	if api.IsPodTerminal(pod) || pod.DeletionTimestamp != nil {
		return s.cfg.Store.Delete(ctx, api.KindPod, ns, name, opts)
	}
	list, _, err := s.cfg.Store.List(ctx, api.KindPodDisruptionBudget, ns, nil)
	if err != nil {
		return nil, err
	}
	var budgets []*api.PodDisruptionBudget
	for _, o := range list {
		if b := o.(*api.PodDisruptionBudget); api.BudgetSelects(b, pod) {
			budgets = append(budgets, b)
		}
	}
	switch {
	case len(budgets) > 1:
		return nil, api.NewStatusError(http.StatusInternalServerError, api.ReasonInternalError,
			"This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.")
	case len(budgets) == 1:
		if err := spendBudget(ctx, s.cfg.Store, budgets[0], pod); err != nil {
			return nil, err
		}
	}
	return s.cfg.Store.Delete(ctx, api.KindPod, ns, name, opts)
}

// spendBudget takes one disruption from the budget, or refuses the
// eviction with the 429 kubectl drain waits on.
func spendBudget(ctx context.Context, store Store, pdb *api.PodDisruptionBudget, pod *api.Pod) error {
	st := &pdb.Status
	// An unhealthy pod may go when the budget is met, or always if the
	// budget says so (its loss changes nothing).
	if !api.IsPodReady(pod) {
		if p := pdb.Spec.UnhealthyPodEvictionPolicy; (p != nil && *p == api.UnhealthyPodAlwaysAllow) || st.CurrentHealthy >= st.DesiredHealthy {
			return nil
		}
	}
	// No Retry-After, as Kubernetes: client-go would otherwise wait and
	// retry inside the request, and kubectl drain would never say that a
	// budget holds the pod (it retries every 5 s itself, saying why).
	refuse := func(why string) error {
		e := api.NewTooManyRequests(msgBudgetViolated, 0)
		e.ErrStatus.Details.Causes = []api.StatusCause{{Type: "DisruptionBudget", Message: why}}
		return e
	}
	if st.ObservedGeneration < pdb.Generation {
		return refuse(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if st.DisruptionsAllowed <= 0 {
		return refuse(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, st.DesiredHealthy, st.CurrentHealthy))
	}
	st.DisruptionsAllowed--
	if st.DisruptedPods == nil {
		st.DisruptedPods = map[string]api.Time{}
	}
	st.DisruptedPods[pod.Name] = api.Time{Time: time.Now()}
	if _, err := store.UpdateStatus(ctx, pdb); err != nil {
		return fmt.Errorf("record the eviction in poddisruptionbudget %s: %w", pdb.Name, err)
	}
	return nil
}
