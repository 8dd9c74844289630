package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
)

// kindHandler serves the REST verbs of one kind.
type kindHandler struct {
	s *Server
	k *api.Kind
}

func (h *kindHandler) nsAndName(r *http.Request) (string, string) {
	v := mux.Vars(r)
	return v["namespace"], v["name"]
}

// readBody reads a bounded request body, converting YAML to JSON within the
// decoding limits and checking the nesting of JSON before it is decoded.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := readBodyWithin(w, r, s.cfg.MaxBodyBytes, s.cfg.Limits.BodyTimeout)
	if err != nil {
		return nil, err
	}
	empty := api.NewBadRequest("request body is empty; send the object as JSON or YAML")
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, empty
	}
	lim := s.decodeLimits()
	if !isYAML(r) {
		return body, api.CheckNesting(body, lim.MaxDepth)
	}
	j, err := api.DocumentToJSON(body, lim)
	if err != nil {
		return nil, asDecodeStatus(err)
	}
	if j == nil {
		return nil, empty
	}
	return j, nil
}

// decodeLimits bounds the decoding of request bodies.
func (s *Server) decodeLimits() api.DecodeLimits {
	lim := api.DefaultDecodeLimits
	lim.MaxDocumentBytes = int(s.cfg.MaxBodyBytes)
	lim.MaxObjects = s.cfg.Limits.MaxApplyObjects
	return lim
}

// decodeFor decodes a body as an object of this kind, checking its unknown
// and duplicate fields as the request's fieldValidation asks.
func (h *kindHandler) decodeFor(w http.ResponseWriter, r *http.Request, body []byte) (api.Object, error) {
	var tm api.TypeMeta
	if err := json.Unmarshal(body, &tm); err != nil {
		return nil, api.NewBadRequest("body is not a JSON object: " + err.Error())
	}
	if tm.Kind != "" && tm.Kind != h.k.Kind || tm.APIVersion != "" && tm.APIVersion != h.k.APIVersion() {
		return nil, api.NewBadRequest(fmt.Sprintf("the body is a %s %s, but this path serves %s %s",
			tm.APIVersion, tm.Kind, h.k.APIVersion(), h.k.Kind))
	}
	obj, unknown, err := api.DecodeInto(h.k, body)
	if err != nil {
		return nil, asStatus(h.k, "", err)
	}
	if err := checkFields(w, r, h.k, obj.GetObjectMeta().Name, body, unknown); err != nil {
		return nil, err
	}
	return obj, nil
}

// asStatus turns decode and validation errors into Status errors.
func asStatus(k *api.Kind, name string, err error) error {
	var se *api.StatusError
	if errors.As(err, &se) {
		return se
	}
	var fe api.FieldErrors
	if errors.As(err, &fe) {
		return api.NewInvalid(k, name, fe)
	}
	var uk *api.UnknownKindError
	if errors.As(err, &uk) {
		return api.NewBadRequest(uk.Error())
	}
	return api.NewBadRequest(err.Error())
}

// placeInNamespace checks the object's namespace against the URL's.
func (h *kindHandler) placeInNamespace(obj api.Object, ns string) error {
	m := obj.GetObjectMeta()
	if !h.k.Namespaced {
		return nil
	}
	if m.Namespace == "" {
		m.Namespace = ns
	} else if ns != "" && m.Namespace != ns {
		return api.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the request (%s)", m.Namespace, ns))
	}
	return nil
}

func listOptions(r *http.Request, k *api.Kind) (api.ListOptions, error) {
	q := r.URL.Query()
	var opts api.ListOptions
	if s := q.Get("labelSelector"); s != "" {
		sel, err := api.ParseSelector(s)
		if err != nil {
			return opts, api.NewBadRequest("labelSelector: " + err.Error())
		}
		opts.LabelSelector = sel
	}
	if s := q.Get("fieldSelector"); s != "" {
		sel, err := api.ParseFieldSelector(k, s)
		if err != nil {
			return opts, api.NewBadRequest(err.Error())
		}
		opts.FieldSelector = sel
	}
	opts.ResourceVersion = q.Get("resourceVersion")
	return opts, nil
}

func (h *kindHandler) list(w http.ResponseWriter, r *http.Request) {
	ns, _ := h.nsAndName(r)
	opts, err := listOptions(r, h.k)
	if err != nil {
		writeError(w, err)
		return
	}
	tab, err := h.s.newTabler(r, h.k)
	if err != nil {
		writeError(w, err)
		return
	}
	if b, _ := strconv.ParseBool(r.URL.Query().Get("watch")); b {
		h.s.watch(w, r, h.k, ns, opts, tab)
		return
	}
	items, rv, err := h.listMatching(r, ns, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	if tab != nil {
		tab.write(w, items, api.ListMeta{ResourceVersion: rv})
		return
	}
	writeJSON(w, http.StatusOK, listOf(h.k, items, rv))
}

// listMatching lists the objects matching both selectors: the store
// filters by labels, the field selector is applied here.
func (h *kindHandler) listMatching(r *http.Request, ns string, opts api.ListOptions) ([]api.Object, string, error) {
	items, rv, err := h.s.cfg.Store.List(r.Context(), h.k, ns, opts.LabelSelector)
	if err != nil || opts.FieldSelector.Empty() {
		return items, rv, err
	}
	kept := items[:0]
	for _, o := range items {
		if opts.FieldSelector.Matches(o) {
			kept = append(kept, o)
		}
	}
	return kept, rv, nil
}

func listOf(k *api.Kind, items []api.Object, rv string) api.List[api.Object] {
	if items == nil {
		items = []api.Object{}
	}
	return api.List[api.Object]{TypeMeta: api.TypeMeta{Kind: k.ListKind(), APIVersion: k.APIVersion()},
		ListMeta: api.ListMeta{ResourceVersion: rv}, Items: items}
}

func (h *kindHandler) get(w http.ResponseWriter, r *http.Request) {
	ns, name := h.nsAndName(r)
	tab, err := h.s.newTabler(r, h.k)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		writeError(w, err)
		return
	}
	if tab != nil {
		tab.write(w, []api.Object{obj}, api.ListMeta{ResourceVersion: obj.GetObjectMeta().ResourceVersion})
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (h *kindHandler) create(w http.ResponseWriter, r *http.Request) {
	ns, _ := h.nsAndName(r)
	body, err := h.s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := h.decodeFor(w, r, body)
	if err == nil {
		err = h.placeInNamespace(obj, ns)
	}
	if err == nil {
		err = h.s.admitWrite(r, obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	created, err := h.s.cfg.Store.Create(r.Context(), obj)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, created)
}

func (h *kindHandler) replace(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, false)
}

func (h *kindHandler) replaceStatus(w http.ResponseWriter, r *http.Request) {
	h.write(w, r, true)
}

func (h *kindHandler) write(w http.ResponseWriter, r *http.Request, status bool) {
	ns, name := h.nsAndName(r)
	body, err := h.s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := h.decodeFor(w, r, body)
	if err == nil {
		err = h.placeInNamespace(obj, ns)
	}
	if err == nil && obj.GetObjectMeta().Name != name {
		err = api.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the URL (%s)", obj.GetObjectMeta().Name, name))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if err := h.s.admitWrite(r, obj); err != nil {
		writeError(w, err)
		return
	}
	var out api.Object
	if status {
		out, err = h.s.cfg.Store.UpdateStatus(r.Context(), obj)
	} else {
		out, err = h.s.cfg.Store.Update(r.Context(), obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *kindHandler) patch(w http.ResponseWriter, r *http.Request)       { h.patchWith(w, r, false) }
func (h *kindHandler) patchStatus(w http.ResponseWriter, r *http.Request) { h.patchWith(w, r, true) }

// patchWith applies a JSON merge patch, retrying (retryConflicts) when a
// concurrent write changed the object between read and write.
func (h *kindHandler) patchWith(w http.ResponseWriter, r *http.Request, status bool) {
	ns, name := h.nsAndName(r)
	patch, err := h.s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	out, err := retryConflicts(r.Context(), true, func() (api.Object, error) {
		return h.patchOnce(w, r, ns, name, patch, status)
	})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *kindHandler) patchOnce(w http.ResponseWriter, r *http.Request, ns, name string, patch []byte, status bool) (api.Object, error) {
	cur, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	merged, err := api.MergePatch(doc, patch)
	if err != nil {
		return nil, api.NewBadRequest(err.Error())
	}
	obj, unknown, err := api.DecodeInto(h.k, merged)
	if err != nil {
		return nil, asStatus(h.k, name, err)
	}
	if err := checkFields(w, r, h.k, name, patch, unknown); err != nil {
		return nil, err
	}
	m := obj.GetObjectMeta()
	if m.Name != name || m.Namespace != cur.GetObjectMeta().Namespace {
		return nil, api.NewBadRequest("a patch may not change metadata.name or metadata.namespace")
	}
	m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	if err := h.s.admitWrite(r, obj); err != nil {
		return nil, err
	}
	if status {
		return h.s.cfg.Store.UpdateStatus(r.Context(), obj)
	}
	return h.s.cfg.Store.Update(r.Context(), obj)
}

func (h *kindHandler) deleteOptions(w http.ResponseWriter, r *http.Request) (api.DeleteOptions, error) {
	var opts api.DeleteOptions
	if r.ContentLength != 0 && r.Body != nil {
		body, err := readBodyWithin(w, r, 64<<10, h.s.cfg.Limits.BodyTimeout)
		if err != nil {
			return opts, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var o struct {
				GracePeriodSeconds *int64 `json:"gracePeriodSeconds"`
				Preconditions      *struct {
					UID string `json:"uid"`
				} `json:"preconditions"`
			}
			if err := json.Unmarshal(body, &o); err != nil {
				return opts, api.NewBadRequest("delete options are not valid JSON: " + err.Error())
			}
			opts.GracePeriodSeconds = o.GracePeriodSeconds
			if o.Preconditions != nil {
				opts.UID = o.Preconditions.UID
			}
		}
	}
	if g := r.URL.Query().Get("gracePeriodSeconds"); g != "" {
		v, err := strconv.ParseInt(g, 10, 64)
		if err != nil || v < 0 {
			return opts, api.NewBadRequest("gracePeriodSeconds: must be a non-negative integer")
		}
		opts.GracePeriodSeconds = &v
	}
	return opts, nil
}

func (h *kindHandler) delete(w http.ResponseWriter, r *http.Request) {
	ns, name := h.nsAndName(r)
	opts, err := h.deleteOptions(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := h.s.cfg.Store.Delete(r.Context(), h.k, ns, name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, obj)
}

func (h *kindHandler) deleteCollection(w http.ResponseWriter, r *http.Request) {
	ns, _ := h.nsAndName(r)
	lo, err := listOptions(r, h.k)
	if err != nil {
		writeError(w, err)
		return
	}
	opts, err := h.deleteOptions(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	items, _, err := h.listMatching(r, ns, lo)
	if err != nil {
		writeError(w, err)
		return
	}
	var deleted []api.Object
	for _, it := range items {
		m := it.GetObjectMeta()
		obj, err := h.s.cfg.Store.Delete(r.Context(), h.k, m.Namespace, m.Name, opts)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			writeError(w, err)
			return
		}
		deleted = append(deleted, obj)
	}
	writeJSON(w, http.StatusOK, listOf(h.k, deleted, ""))
}
