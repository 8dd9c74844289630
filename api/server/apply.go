package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/shoal-dev/shoal/api"
)

// ApplyResult is the answer of /shoal/v1/apply.
type ApplyResult struct {
	api.TypeMeta `json:",inline"`
	Items        []ApplyItem `json:"items"`
}

// ApplyItem says what happened to one object.
type ApplyItem struct {
	Kind       string   `json:"kind"`
	APIVersion string   `json:"apiVersion"`
	Namespace  string   `json:"namespace,omitempty"`
	Name       string   `json:"name"`
	Action     string   `json:"action"`
	Warnings   []string `json:"warnings,omitempty"`
}

// apply takes a stream of YAML or JSON documents and creates or updates
// every object in one atomic step: all documents are decoded and validated
// before anything is stored.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	body, err := readBodyWithin(w, r, s.maxApplyBytes(), s.cfg.Limits.BodyTimeout)
	if err != nil {
		writeError(w, err)
		return
	}
	// Documents are counted and measured before any is converted, so an
	// apply of too many objects is refused before it costs more than its
	// body.
	docs, err := api.SplitDocumentsLimited(body, s.decodeLimits())
	if err != nil {
		writeError(w, asDecodeStatus(err))
		return
	}
	if len(docs) == 0 {
		writeError(w, api.NewBadRequest("the input holds no objects; give YAML or JSON documents with apiVersion and kind"))
		return
	}
	q := r.URL.Query()
	ns := q.Get("namespace")
	if ns == "" {
		ns = "default"
	}
	strict := q.Get("strict") == "true" || q.Get("fieldValidation") == "Strict"
	objs := make([]api.Object, 0, len(docs))
	items := make([]ApplyItem, 0, len(docs))
	for i, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			writeError(w, docError(i, len(docs), asDecodeStatus(err)))
			return
		}
		m := d.Object.GetObjectMeta()
		if d.Kind.Namespaced && m.Namespace == "" {
			m.Namespace = ns
		}
		if m.Name == "" {
			writeError(w, docError(i, len(docs), api.NewInvalid(d.Kind, "", api.FieldErrors{{Field: "metadata.name",
				Type: api.ErrTypeRequired, Detail: "apply needs a name for every object"}})))
			return
		}
		it := ApplyItem{Kind: d.Kind.Kind, APIVersion: d.Kind.APIVersion(), Namespace: m.Namespace, Name: m.Name}
		for _, f := range d.UnknownFields {
			it.Warnings = append(it.Warnings, fmt.Sprintf("%s %s: unknown field %q", d.Kind.Kind, m.Name, f))
		}
		if strict && len(it.Warnings) > 0 {
			writeError(w, docError(i, len(docs), api.NewStatusError(http.StatusBadRequest, api.ReasonBadRequest,
				fmt.Sprintf("strict decoding error: %s %q: unknown fields %v; remove them or apply without --strict", d.Kind.Kind, m.Name, d.UnknownFields))))
			return
		}
		if err := s.authorizeApply(r, d.Kind, d.Object); err != nil {
			writeError(w, docError(i, len(docs), asDecodeStatus(err)))
			return
		}
		objs = append(objs, d.Object)
		items = append(items, it)
	}
	actions, err := s.cfg.Store.Apply(r.Context(), objs)
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range items {
		items[i].Action = actions[i]
		for _, warn := range items[i].Warnings {
			w.Header().Add("Warning", fmt.Sprintf("299 - %q", warn))
		}
	}
	writeJSON(w, http.StatusOK, ApplyResult{TypeMeta: api.TypeMeta{Kind: "ApplyResult", APIVersion: "shoal/v1"}, Items: items})
}

// maxApplyBytes bounds an apply's body: four objects of the largest size,
// or many smaller ones.
func (s *Server) maxApplyBytes() int64 { return 4 * s.cfg.MaxBodyBytes }

func asDecodeStatus(err error) *api.StatusError {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se
	}
	var fe api.FieldErrors
	if errors.As(err, &fe) {
		return api.NewStatusError(http.StatusBadRequest, api.ReasonBadRequest, fe.Error())
	}
	return api.NewBadRequest(err.Error())
}

// docError names the document an error is about.
func docError(i, n int, se *api.StatusError) *api.StatusError {
	c := *se
	if n > 1 {
		c.ErrStatus.Message = fmt.Sprintf("document %d of %d: %s", i+1, n, se.ErrStatus.Message)
	}
	return &c
}

// authorizeApply checks that the caller may create the object, or update
// it if it exists, and may write it as it is.
func (s *Server) authorizeApply(r *http.Request, k *api.Kind, obj api.Object) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	m := obj.GetObjectMeta()
	a := &api.ResourceAttributes{Namespace: m.Namespace, Verb: api.VerbCreate, Group: k.Group, Version: k.Version,
		Resource: k.Resource}
	if _, err := s.cfg.Store.Get(r.Context(), k, m.Namespace, m.Name); err == nil {
		a.Verb, a.Name = api.VerbUpdate, m.Name
	} else if !api.IsNotFound(err) {
		return err
	}
	if err := s.check(r, api.AccessRequest{ResourceAttributes: a}); err != nil {
		return err
	}
	return s.admitWrite(r, obj)
}
