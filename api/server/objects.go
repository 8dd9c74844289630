package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/patch"
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

// dryRun reads the dryRun query parameter: "All" (what kubectl diff,
// apply --dry-run=server and Helm send) makes the request a dry run, whose
// write is checked, defaulted and admitted but not stored. The request to
// serve is returned.
func dryRun(r *http.Request) (*http.Request, error) {
	vals, ok := r.URL.Query()["dryRun"]
	if !ok {
		return r, nil
	}
	for _, v := range vals {
		if v != "All" {
			return r, api.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q: the only supported value is \"All\"", v))
		}
	}
	if len(vals) == 0 {
		return r, nil
	}
	return r.WithContext(api.WithDryRun(r.Context())), nil
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

func (h *kindHandler) list(w http.ResponseWriter, r *http.Request) {
	ns, _ := h.nsAndName(r)
	lr, ok := listRequestOf(w, r, h.k)
	if !ok {
		return
	}
	tab, err := h.s.newTabler(r, h.k)
	if err != nil {
		writeError(w, err)
		return
	}
	if lr.watch {
		h.s.watch(w, r, h.k, ns, lr, tab)
		return
	}
	if pl, ok := h.s.cfg.Store.(pagedLister); ok && lr.limit > 0 && lr.opts.FieldSelector.Empty() && !lr.exact {
		h.listPage(w, r, pl, ns, lr, tab)
		return
	}
	items, rv, err := h.s.cfg.Store.List(r.Context(), h.k, ns, lr.opts.LabelSelector)
	if err == nil && !lr.exact {
		err = notNewerThan(lr.opts.ResourceVersion, rv)
	}
	if err == nil && lr.exact && rv != lr.opts.ResourceVersion {
		err = api.NewGone("too old resource version: " + lr.opts.ResourceVersion + " (current " + rv +
			"); shoal lists only the current state: list without resourceVersionMatch=Exact")
	}
	if err != nil {
		writeError(w, err)
		return
	}
	items, rv, cont := lr.page(items, rv)
	if tab != nil {
		tab.write(w, items, api.ListMeta{ResourceVersion: rv, Continue: cont})
		return
	}
	l := listOf(h.k, items, rv)
	l.ListMeta.Continue = cont
	writeJSON(w, http.StatusOK, l)
}

// pagedLister is a store that lists one page at a time (the registry): a
// list with a limit then decodes only that page's objects.
type pagedLister interface {
	ListPage(ctx context.Context, k *api.Kind, ns string, sel api.Selector, after string, limit int) ([]api.Object, string, bool, error)
}

// listPage answers a list with a limit (and no field selector) from one
// page of the store; the answer is the one lr.page gives over a whole
// list: the same items, resourceVersion and continue token.
func (h *kindHandler) listPage(w http.ResponseWriter, r *http.Request, pl pagedLister, ns string, lr listRequest, tab *tabler) {
	after := ""
	if lr.cont != nil {
		after = lr.cont.After
	}
	items, rv, more, err := pl.ListPage(r.Context(), h.k, ns, lr.opts.LabelSelector, after, int(lr.limit))
	if err == nil {
		err = notNewerThan(lr.opts.ResourceVersion, rv)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if lr.cont != nil {
		rv = lr.cont.RV
	}
	cont := ""
	if more && len(items) > 0 {
		m := items[len(items)-1].GetObjectMeta()
		cont = continueToken{RV: rv, After: m.Namespace + "/" + m.Name}.encode()
	}
	if tab != nil {
		tab.write(w, items, api.ListMeta{ResourceVersion: rv, Continue: cont})
		return
	}
	l := listOf(h.k, items, rv)
	l.ListMeta.Continue = cont
	writeJSON(w, http.StatusOK, l)
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
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
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
	if err == nil {
		err = h.trackUpdate(r, false, nil, obj)
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
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
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
	ctx := r.Context()
	if cur, err := h.s.cfg.Store.Get(ctx, h.k, obj.GetObjectMeta().Namespace, name); err == nil {
		if err := h.trackUpdate(r, status, cur, obj); err != nil {
			writeError(w, err)
			return
		}
		ctx = api.WithManagedFields(ctx)
	}
	var out api.Object
	if status {
		out, err = h.s.cfg.Store.UpdateStatus(ctx, obj)
	} else {
		out, err = h.s.cfg.Store.Update(api.WithWholeObject(r.Context()), obj)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *kindHandler) patch(w http.ResponseWriter, r *http.Request)       { h.patchWith(w, r, false) }
func (h *kindHandler) patchStatus(w http.ResponseWriter, r *http.Request) { h.patchWith(w, r, true) }

// patchWith applies a strategic merge, JSON merge or JSON patch, applying
// it again to the newer object when a concurrent write changed the object
// between read and write (retryConflicts), unless the patch itself names
// the resourceVersion it was made against.
func (h *kindHandler) patchWith(w http.ResponseWriter, r *http.Request, status bool) {
	ns, name := h.nsAndName(r)
	typ, err := patch.ParseType(r.Header.Get("Content-Type"))
	if err == nil {
		r, err = dryRun(r)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := h.s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := forceOf(r, typ == patch.ApplyPatchYAML); err != nil {
		writeError(w, err)
		return
	}
	created := false
	out, err := retryConflicts(r.Context(), func() (out api.Object, retry bool, err error) {
		if typ == patch.ApplyPatchYAML {
			out, created, err = h.applyOnce(w, r, ns, name, body, status)
		} else {
			out, err = h.patchOnce(w, r, ns, name, typ, body, status)
		}
		var pc *preconditionConflict
		return out, api.IsConflict(err) && !errors.As(err, &pc) && !isApplyConflict(err), err
	})
	if err != nil {
		writeError(w, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, out)
}

// preconditionConflict is a conflict with the resourceVersion the patch
// itself carries: reading again cannot resolve it.
type preconditionConflict struct{ *api.StatusError }

func (e *preconditionConflict) Unwrap() error { return e.StatusError }

func (h *kindHandler) patchOnce(w http.ResponseWriter, r *http.Request, ns, name string, typ patch.Type, body []byte, status bool) (api.Object, error) {
	cur, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	if err != nil {
		return nil, err
	}
	doc, err := json.Marshal(cur)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	merged, err := patch.Apply(typ, doc, body, h.k.New(), patch.Limits{})
	if err != nil {
		return nil, err
	}
	obj, unknown, err := api.DecodeInto(h.k, merged)
	if err != nil {
		return nil, asStatus(h.k, name, err)
	}
	if err := checkFields(w, r, h.k, name, body, unknown); err != nil {
		return nil, err
	}
	m := obj.GetObjectMeta()
	if m.Name != name || m.Namespace != cur.GetObjectMeta().Namespace {
		return nil, api.NewBadRequest("a patch may not change metadata.name or metadata.namespace")
	}
	// A resourceVersion the patch sets is a precondition, as in
	// Kubernetes: the patch was made against that version only.
	if rv := m.ResourceVersion; rv != "" && rv != cur.GetObjectMeta().ResourceVersion {
		return nil, &preconditionConflict{api.NewConflict(h.k, name,
			"the object has been modified; please apply your changes to the latest version and try again")}
	}
	m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	if err := h.s.admitWrite(r, obj); err != nil {
		return nil, err
	}
	if err := h.trackUpdate(r, status, cur, obj); err != nil {
		return nil, err
	}
	if status {
		return h.s.cfg.Store.UpdateStatus(api.WithManagedFields(r.Context()), obj)
	}
	return h.s.cfg.Store.Update(r.Context(), obj)
}

// deleteOptions reads a DeleteOptions body (kubectl and client-go send
// one) and the same options as query parameters, which win. A body's
// dryRun (client-go sends it there) sets dryRunBody.
func (h *kindHandler) deleteOptions(w http.ResponseWriter, r *http.Request) (opts api.DeleteOptions, dryRunBody bool, err error) {
	if r.ContentLength != 0 && r.Body != nil {
		body, err := readBodyWithin(w, r, 64<<10, h.s.cfg.Limits.BodyTimeout)
		if err != nil {
			return opts, false, err
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var o struct {
				GracePeriodSeconds *int64   `json:"gracePeriodSeconds"`
				PropagationPolicy  *string  `json:"propagationPolicy"`
				OrphanDependents   *bool    `json:"orphanDependents"`
				DryRun             []string `json:"dryRun"`
				Preconditions      *struct {
					UID             *string `json:"uid"`
					ResourceVersion *string `json:"resourceVersion"`
				} `json:"preconditions"`
			}
			if err := json.Unmarshal(body, &o); err != nil {
				return opts, false, api.NewBadRequest("delete options are not valid JSON: " + err.Error())
			}
			opts.GracePeriodSeconds = o.GracePeriodSeconds
			for _, v := range o.DryRun {
				if v != "All" {
					return opts, false, api.NewBadRequest(fmt.Sprintf("dryRun: unsupported value %q: the only supported value is \"All\"", v))
				}
				dryRunBody = true
			}
			if o.Preconditions != nil {
				opts.UID = deref(o.Preconditions.UID)
				opts.ResourceVersion = deref(o.Preconditions.ResourceVersion)
			}
			if o.OrphanDependents != nil && o.PropagationPolicy != nil {
				return opts, false, api.NewBadRequest("delete options: give propagationPolicy or the deprecated orphanDependents, not both")
			}
			if o.OrphanDependents != nil {
				opts.OrphanDependents = o.OrphanDependents
				opts.PropagationPolicy = api.DeletePropagationBackground
				if *o.OrphanDependents {
					opts.PropagationPolicy = api.DeletePropagationOrphan
				}
			}
			if o.PropagationPolicy != nil {
				opts.PropagationPolicy = *o.PropagationPolicy
			}
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		v, err := strconv.ParseInt(g, 10, 64)
		if err != nil || v < 0 {
			return opts, false, api.NewBadRequest("gracePeriodSeconds: must be a non-negative integer")
		}
		opts.GracePeriodSeconds = &v
	}
	if p := q.Get("propagationPolicy"); p != "" {
		opts.PropagationPolicy = p
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return opts, false, api.NewBadRequest("gracePeriodSeconds: must be a non-negative integer")
	}
	switch opts.PropagationPolicy {
	case "", api.DeletePropagationBackground, api.DeletePropagationForeground, api.DeletePropagationOrphan:
	default:
		return opts, false, api.NewBadRequest(fmt.Sprintf("propagationPolicy: %q is not one of %s, %s, %s", opts.PropagationPolicy,
			api.DeletePropagationBackground, api.DeletePropagationForeground, api.DeletePropagationOrphan))
	}
	return opts, dryRunBody, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *kindHandler) delete(w http.ResponseWriter, r *http.Request) {
	ns, name := h.nsAndName(r)
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	opts, dry, err := h.deleteOptions(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if dry {
		r = r.WithContext(api.WithDryRun(r.Context()))
	}
	obj, err := h.s.cfg.Store.Delete(r.Context(), h.k, ns, name, opts)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, deleteStatus(obj, opts), obj)
}

// deleteStatus is the code of a delete's answer as Kubernetes' handler
// gives it: 202 Accepted when the object is not removed at once (it stays,
// marked, for its finalizers or its grace period) and the request asked for
// cascading with the deprecated orphanDependents: false; 200 otherwise, a
// foreground delete included (Kubernetes keeps 200 there so as not to
// break clients).
func deleteStatus(obj api.Object, opts api.DeleteOptions) int {
	m := obj.GetObjectMeta()
	removed := m.DeletionTimestamp == nil || (len(m.Finalizers) == 0 &&
		(m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == 0))
	if !removed && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		return http.StatusAccepted
	}
	return http.StatusOK
}

func (h *kindHandler) deleteCollection(w http.ResponseWriter, r *http.Request) {
	ns, _ := h.nsAndName(r)
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	lr, ok := listRequestOf(w, r, h.k)
	if !ok {
		return
	}
	opts, dry, err := h.deleteOptions(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if dry {
		r = r.WithContext(api.WithDryRun(r.Context()))
	}
	items, _, err := h.s.cfg.Store.List(r.Context(), h.k, ns, lr.opts.LabelSelector)
	if err != nil {
		writeError(w, err)
		return
	}
	items, _, _ = listRequest{opts: lr.opts}.page(items, "")
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
