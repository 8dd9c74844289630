package server

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/fieldmanager"
	"github.com/shoal-dev/shoal/api/patch"
)

// replicasOf returns the replicas pointer and selector of a scalable object.
func replicasOf(obj api.Object) (**int32, *api.LabelSelector, int32) {
	switch o := obj.(type) {
	case *api.Deployment:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas
	case *api.ReplicaSet:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas
	case *api.StatefulSet:
		return &o.Spec.Replicas, o.Spec.Selector, o.Status.Replicas
	case *api.ReplicationController:
		return &o.Spec.Replicas, o.Spec.LabelSelector(), o.Status.Replicas
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

// scale sets spec.replicas from a Scale object (PUT) or a patch of one
// (any of the patch types; kubectl scale sends a merge patch).
func (h *kindHandler) scale(w http.ResponseWriter, r *http.Request, isPatch bool) {
	ns, name := h.nsAndName(r)
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var typ patch.Type
	if isPatch {
		t, err := patch.ParseType(r.Header.Get("Content-Type"))
		if err != nil {
			writeError(w, err)
			return
		}
		typ = t
	}
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
	_ = json.Unmarshal(body, &sent) // a JSON patch (a list) names none
	out, err := retryConflicts(r.Context(), func() (api.Object, bool, error) {
		out, err := h.scaleOnce(r, ns, name, body, typ)
		return out, api.IsConflict(err) && sent.Metadata.ResourceVersion == "", err
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scaleOf(out))
}

// retryConflicts runs a read-modify-write until it succeeds, fails for
// good, or has met a conflict it may retry 20 times, backing off from
// 10 ms to 200 ms between tries (about 3 s in all), as Kubernetes'
// guaranteed update reads again: the conflict is the handler's own read
// racing another write (a controller's, another client's, a merge from
// another agent after a partition heals).
func retryConflicts(ctx context.Context, once func() (out api.Object, retry bool, err error)) (api.Object, error) {
	for attempt := 0; ; attempt++ {
		out, retry, err := once()
		if !retry || attempt >= 20 {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(min(time.Duration(10<<min(attempt, 5))*time.Millisecond, 200*time.Millisecond)):
		}
	}
}

// scaleOnce applies one Scale (typ "") or a patch of type typ to it.
func (h *kindHandler) scaleOnce(r *http.Request, ns, name string, body []byte, typ patch.Type) (api.Object, error) {
	obj, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		return nil, err
	}
	req := body
	isPatch := typ != ""
	if isPatch {
		doc, _ := json.Marshal(scaleOf(obj))
		if req, err = patch.Apply(typ, doc, body, &api.Scale{}, patch.Limits{}); err != nil {
			return nil, err
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
	if sc.ResourceVersion != "" && sc.ResourceVersion != obj.GetObjectMeta().ResourceVersion && !isPatch {
		return nil, api.NewConflict(h.k, name, "the object has been modified; please apply your changes to the latest version and try again")
	}
	live, err := json.Marshal(obj)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	rep, _, _ := replicasOf(obj)
	*rep = api.Int32(sc.Spec.Replicas)
	// As in Kubernetes, the scaler owns spec.replicas (subresource scale).
	if err := h.trackUpdateFrom(r, fieldmanager.Scale, live, obj); err != nil {
		return nil, err
	}
	return h.s.cfg.Store.Update(r.Context(), obj)
}
