package clienttest

import (
	"encoding/json"
	"net/http"

	"github.com/shoal-dev/shoal/api"
)

func (s *Server) serveScale(w http.ResponseWriter, r *http.Request, t target, body []byte) {
	if t.kind != api.KindDeployment && t.kind != api.KindReplicaSet {
		writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound, t.kind.Resource+" have no scale subresource"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found := s.objects[key(t.kind, t.ns, t.name)]
	if !found {
		writeError(w, api.NewNotFound(t.kind, t.name))
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, scaleOf(cur))
	case http.MethodPut, http.MethodPatch:
		in := scaleOf(cur)
		if err := readScale(r.Method, in, body); err != nil {
			writeError(w, api.NewBadRequest("scale: "+err.Error()))
			return
		}
		if in.Spec.Replicas < 0 {
			writeError(w, api.NewInvalid(api.KindDeployment, t.name, api.FieldErrors{{Field: "spec.replicas",
				Value: in.Spec.Replicas, Type: api.ErrTypeInvalid, Detail: "must be greater than or equal to 0"}}))
			return
		}
		if scaleOf(cur).Spec.Replicas != in.Spec.Replicas {
			cur.GetObjectMeta().Generation++ // a spec change, as through PUT
		}
		setReplicas(cur, in.Spec.Replicas)
		s.put(t.kind, cur, api.Modified)
		writeJSON(w, http.StatusOK, scaleOf(cur))
	default:
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, r.Method+" is not allowed on scale"))
	}
}

func readScale(method string, in *api.Scale, body []byte) error {
	if method == http.MethodPut {
		*in = api.Scale{}
		return json.Unmarshal(body, in)
	}
	merged, err := mergePatch(in, body)
	if err != nil {
		return err
	}
	return json.Unmarshal(merged, in)
}

func scaleOf(o api.Object) *api.Scale {
	m := o.GetObjectMeta()
	sc := &api.Scale{TypeMeta: api.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
		ObjectMeta: api.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion}}
	switch x := o.(type) {
	case *api.Deployment:
		sc.Spec.Replicas = deref(x.Spec.Replicas)
		sc.Status.Replicas = x.Status.Replicas
		sc.Status.Selector = x.Spec.Selector.String()
	case *api.ReplicaSet:
		sc.Spec.Replicas = deref(x.Spec.Replicas)
		sc.Status.Replicas = x.Status.Replicas
		sc.Status.Selector = x.Spec.Selector.String()
	}
	return sc
}

func setReplicas(o api.Object, n int32) {
	switch x := o.(type) {
	case *api.Deployment:
		x.Spec.Replicas = &n
	case *api.ReplicaSet:
		x.Spec.Replicas = &n
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}
