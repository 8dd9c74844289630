package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

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
	validation, err := fieldValidationOf(r)
	if err != nil {
		writeError(w, err)
		return
	}
	strict := validation == fieldValidationStrict
	prune, err := parsePrune(q)
	if err != nil {
		writeError(w, err)
		return
	}
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
		var problems []string
		if validation != fieldValidationIgnore {
			for _, f := range d.UnknownFields {
				problems = append(problems, fmt.Sprintf("unknown field %q", f))
			}
			for _, f := range api.DuplicateFields(doc) {
				problems = append(problems, fmt.Sprintf("duplicate field %q", f))
			}
		}
		for _, p := range problems {
			it.Warnings = append(it.Warnings, fmt.Sprintf("%s %s: %s", d.Kind.Kind, m.Name, p))
		}
		if strict && len(problems) > 0 {
			writeError(w, docError(i, len(docs), api.NewStatusError(http.StatusBadRequest, api.ReasonBadRequest,
				fmt.Sprintf("%s %q: strict decoding error: %s; remove them or apply without --strict", d.Kind.Kind, m.Name, strings.Join(problems, ", ")))))
			return
		}
		if err := s.authorizeApply(r, d.Kind, d.Object); err != nil {
			writeError(w, docError(i, len(docs), asDecodeStatus(err)))
			return
		}
		objs = append(objs, d.Object)
		items = append(items, it)
	}
	var actions []string
	if prune == nil {
		actions, err = s.cfg.Store.Apply(r.Context(), objs)
	} else {
		actions, err = s.applyPrune(r, ns, objs, prune, &items)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	for i := range actions {
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

// pruneRequest is what an apply deletes in the same step: the objects of
// these kinds in the request's namespace that match the selector and are
// not among the objects applied (kubectl apply --prune -l SELECTOR
// --prune-allowlist KIND...).
type pruneRequest struct {
	sel   api.Selector
	kinds []*api.Kind
}

// parsePrune reads prune=SELECTOR and pruneResource=RESOURCE (repeated,
// such as deployments or deployments.apps); nil without prune.
func parsePrune(q url.Values) (*pruneRequest, error) {
	text, ok := q["prune"]
	if !ok {
		if len(q["pruneResource"]) > 0 {
			return nil, api.NewBadRequest("pruneResource needs prune=SELECTOR: the label selector of the objects to prune")
		}
		return nil, nil
	}
	sel, err := api.ParseSelector(text[0])
	if err != nil || sel.Empty() {
		return nil, api.NewBadRequest(fmt.Sprintf("prune=%q: give a label selector that is not empty (what apply may delete), such as app=shop", text[0]))
	}
	p := &pruneRequest{sel: sel}
	for _, res := range q["pruneResource"] {
		k, ok := api.LookupKind(res)
		if !ok || !k.Namespaced || k == api.KindPod || k == api.KindEvent || k == api.KindEndpoints {
			return nil, api.NewBadRequest(fmt.Sprintf("pruneResource=%q: give a namespaced resource such as deployments, services or configmaps (not pods, events or endpoints)", res))
		}
		p.kinds = append(p.kinds, k)
	}
	if len(p.kinds) == 0 {
		return nil, api.NewBadRequest("prune needs pruneResource=RESOURCE (repeatable): the kinds apply may delete")
	}
	return p, nil
}

// applyPrune lists what the apply replaces, checks that the caller may
// delete each, and applies and prunes in one step; the pruned objects are
// added to the answer's items.
func (s *Server) applyPrune(r *http.Request, ns string, objs []api.Object, p *pruneRequest, items *[]ApplyItem) ([]string, error) {
	applied := map[string]bool{}
	for _, o := range objs {
		m := o.GetObjectMeta()
		applied[api.KindOf(o).Kind+"/"+m.Namespace+"/"+m.Name] = true
	}
	var prune []api.Object
	for _, k := range p.kinds {
		list, _, err := s.cfg.Store.List(r.Context(), k, ns, p.sel)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			m := o.GetObjectMeta()
			if applied[k.Kind+"/"+m.Namespace+"/"+m.Name] {
				continue
			}
			if s.cfg.Authorizer != nil {
				a := &api.ResourceAttributes{Namespace: ns, Verb: api.VerbDelete, Group: k.Group, Version: k.Version, Resource: k.Resource, Name: m.Name}
				if err := s.check(r, api.AccessRequest{ResourceAttributes: a}); err != nil {
					return nil, err
				}
			}
			prune = append(prune, o)
		}
	}
	actions, pruned, err := s.cfg.Store.ApplyPrune(r.Context(), objs, prune, p.sel)
	if err != nil {
		return nil, err
	}
	for i, o := range prune {
		if pruned[i] == "" {
			continue
		}
		k, m := api.KindOf(o), o.GetObjectMeta()
		*items = append(*items, ApplyItem{Kind: k.Kind, APIVersion: k.APIVersion(), Namespace: m.Namespace, Name: m.Name, Action: pruned[i]})
	}
	return actions, nil
}
