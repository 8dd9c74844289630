package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/shoal-dev/shoal/api"
)

// Binder assigns pods to nodes (the pods/binding subresource); a Store
// that is not one answers 405 there.
type Binder interface {
	Bind(ctx context.Context, ns, name string, b *api.Binding) (*api.Pod, error)
}

// bind serves POST .../pods/{name}/binding: the body is a v1 Binding whose
// target names the node. As Kubernetes, it answers 201 with a Status.
func (h *kindHandler) bind(w http.ResponseWriter, r *http.Request) {
	ns, name := h.nsAndName(r)
	binder, ok := h.s.cfg.Store.(Binder)
	if !ok {
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, "this server does not bind pods"))
		return
	}
	body, err := h.s.readBody(w, r)
	if err == nil {
		err = checkFields(w, r, h.k, name, body, api.UnknownFieldsOf(&api.Binding{}, body))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	var b api.Binding
	if err := json.Unmarshal(body, &b); err != nil {
		writeError(w, api.NewBadRequest("body is not a Binding object: "+err.Error()))
		return
	}
	switch {
	case b.Kind != "" && b.Kind != "Binding" || b.APIVersion != "" && b.APIVersion != "v1":
		err = api.NewBadRequest(fmt.Sprintf("the body is a %s %s, but this path takes a v1 Binding", b.APIVersion, b.Kind))
	case b.Namespace != "" && b.Namespace != ns:
		err = api.NewBadRequest(fmt.Sprintf("the namespace of the binding (%s) does not match the namespace in the URL (%s)", b.Namespace, ns))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := binder.Bind(r.Context(), ns, name, &b); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.Status{TypeMeta: api.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status: "Success", Code: http.StatusCreated})
}
