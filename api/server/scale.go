package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// replicasOf returns the replicas pointer and selector of a scalable object.
func replicasOf(obj api.Object) (**int32, *api.LabelSelector, int32) {
	switch o := obj.(type) {
	case *api.Deployment:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas
	case *api.ReplicaSet:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas
	}
	return nil, nil, 0
}

func scaleOf(obj api.Object) *api.Scale {
	rep, sel, current := replicasOf(obj)
	m := obj.GetObjectMeta()
	sc := &api.Scale{TypeMeta: api.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: api.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp}}
	if *rep != nil {
		sc.Spec.Replicas = **rep
	}
	sc.Status.Replicas = current
	if sel != nil {
		sc.Status.Selector = sel.String()
	}
	return sc
}

func (h *kindHandler) getScale(w http.ResponseWriter, r *http.Request) {
	ns, name := h.nsAndName(r)
	obj, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(obj))
}

func (h *kindHandler) replaceScale(w http.ResponseWriter, r *http.Request) { h.scale(w, r, false) }
func (h *kindHandler) patchScale(w http.ResponseWriter, r *http.Request)   { h.scale(w, r, true) }

// scale sets spec.replicas from a Scale object (PUT) or a merge patch of one.
func (h *kindHandler) scale(w http.ResponseWriter, r *http.Request, patch bool) {
	ns, name := h.nsAndName(r)
	body, err := h.s.readBody(w, r)
	if err == nil {
		err = checkFields(w, r, h.k, name, body, api.UnknownFieldsOf(&api.Scale{}, body))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	// A caller's own resourceVersion that is stale is answered at once.
	var sent struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(body, &sent)
	out, err := retryConflicts(r.Context(), sent.Metadata.ResourceVersion == "", func() (api.Object, error) {
		return h.scaleOnce(r, ns, name, body, patch)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(out))
}

// retryConflicts runs a read-modify-write until it does not conflict: when
// retry is set (the caller gave no resourceVersion of its own), a conflict
// is the handler's own read racing another write (a controller's, or a
// merge from another agent after a partition heals), so it reads again, as
// Kubernetes' guaranteed update does, backing off a little, for up to
// about 3 s.
func retryConflicts(ctx context.Context, retry bool, write func() (api.Object, error)) (api.Object, error) {
	for attempt := 0; ; attempt++ {
		out, err := write()
		if !api.IsConflict(err) || !retry || attempt >= 20 {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(min(time.Duration(10<<min(attempt, 5))*time.Millisecond, 200*time.Millisecond)):
		}
	}
}

func (h *kindHandler) scaleOnce(r *http.Request, ns, name string, body []byte, patch bool) (api.Object, error) {
	obj, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		return nil, err
	}
	req := body
	if patch {
		doc, _ := json.Marshal(scaleOf(obj))
		if req, err = api.MergePatch(doc, body); err != nil {
			return nil, api.NewBadRequest(err.Error())
		}
	}
	var sc api.Scale
	if err := json.Unmarshal(req, &sc); err != nil {
		return nil, api.NewBadRequest("body is not a Scale object: " + err.Error())
	}
	if sc.Spec.Replicas < 0 {
		return nil, api.NewInvalid(h.k, name, api.FieldErrors{{Field: "spec.replicas", Value: sc.Spec.Replicas,
			Type: api.ErrTypeInvalid, Detail: "must be greater than or equal to 0"}})
	}
	if sc.ResourceVersion != "" && sc.ResourceVersion != obj.GetObjectMeta().ResourceVersion && !patch {
		return nil, api.NewConflict(h.k, name, "the object has been modified; please apply your changes to the latest version and try again")
	}
	rep, _, _ := replicasOf(obj)
	*rep = api.Int32(sc.Spec.Replicas)
	return h.s.cfg.Store.Update(r.Context(), obj)
}
