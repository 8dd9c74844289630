package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/fieldmanager"
)

// fieldManagerOf is the manager a write is recorded under in
// managedFields: the fieldManager parameter, or else (as Kubernetes does)
// the product of the User-Agent ("kubectl" of "kubectl/v1.32.0 ...").
// Server-side apply needs the parameter.
func fieldManagerOf(r *http.Request, apply bool) (string, error) {
	m := r.URL.Query().Get("fieldManager")
	if m == "" {
		if apply {
			return "", api.NewBadRequest("fieldManager is required for server-side apply (application/apply-patch+yaml): " +
				"add ?fieldManager=<your tool's name> (kubectl apply --server-side sends it)")
		}
		m, _, _ = strings.Cut(r.UserAgent(), "/")
		m = strings.Map(func(c rune) rune {
			if unicode.IsPrint(c) {
				return c
			}
			return -1
		}, m)
		if len(m) > api.MaxFieldManagerLength {
			m = m[:api.MaxFieldManagerLength]
		}
		return m, nil
	}
	if len(m) > api.MaxFieldManagerLength {
		return "", api.NewBadRequest(fmt.Sprintf("fieldManager: %d characters; at most %d", len(m), api.MaxFieldManagerLength))
	}
	for _, c := range m {
		if !unicode.IsPrint(c) {
			return "", api.NewBadRequest(fmt.Sprintf("fieldManager %q: only printable characters are allowed", m))
		}
	}
	return m, nil
}

// forceOf reads the force parameter, which only server-side apply takes:
// true takes the conflicting fields from their managers.
func forceOf(r *http.Request, apply bool) (bool, error) {
	v, ok := r.URL.Query()["force"]
	if !ok || len(v) == 0 {
		return false, nil
	}
	if !apply {
		return false, api.NewBadRequest("force is only for server-side apply (Content-Type application/apply-patch+yaml); remove it")
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, api.NewBadRequest(fmt.Sprintf("force: %q is not true or false", v[0]))
	}
	return b, nil
}

func subresourceOf(status bool) fieldmanager.Subresource {
	if status {
		return fieldmanager.Status
	}
	return fieldmanager.Main
}

// trackUpdate records in obj's managedFields that the request's manager
// set the fields it changes from cur (nil for a create), as an Update
// entry. An empty list (no entries left) tells the registry to clear them.
func (h *kindHandler) trackUpdate(r *http.Request, status bool, cur, obj api.Object) error {
	var live []byte
	if cur != nil {
		var err error
		if live, err = json.Marshal(cur); err != nil {
			return api.NewInternal(err)
		}
	}
	return h.trackUpdateFrom(r, subresourceOf(status), live, obj)
}

// trackUpdateFrom is trackUpdate from the stored object's JSON, live, for
// a write of the subresource sub.
func (h *kindHandler) trackUpdateFrom(r *http.Request, sub fieldmanager.Subresource, live []byte, obj api.Object) error {
	manager, err := fieldManagerOf(r, false)
	if err != nil {
		return err
	}
	updated, err := json.Marshal(obj)
	if err != nil {
		return api.NewInternal(err)
	}
	out, err := h.s.fields.Update(h.k, sub, live, updated, manager)
	if err != nil {
		return err
	}
	return setManagedFields(obj, out)
}

// setManagedFields copies the managedFields of the field manager's result
// into obj.
func setManagedFields(obj api.Object, result []byte) error {
	var res struct {
		Metadata struct {
			ManagedFields []api.ManagedFieldsEntry `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(result, &res); err != nil {
		return api.NewInternal(fmt.Errorf("managed fields: %w", err))
	}
	mf := res.Metadata.ManagedFields
	if mf == nil {
		mf = []api.ManagedFieldsEntry{}
	}
	obj.GetObjectMeta().ManagedFields = mf
	return nil
}

// isApplyConflict tells server-side apply's conflict (fields another
// manager holds: only force resolves it) from a concurrent write's.
func isApplyConflict(err error) bool {
	var se *api.StatusError
	if !errors.As(err, &se) || se.ErrStatus.Details == nil {
		return false
	}
	for _, c := range se.ErrStatus.Details.Causes {
		if c.Type == api.CauseFieldManagerConflict {
			return true
		}
	}
	return false
}

// applyOnce serves one attempt of a server-side apply: it merges the
// apply configuration (body, JSON) into the stored object, or into an
// empty one, which it then creates. created tells which.
func (h *kindHandler) applyOnce(w http.ResponseWriter, r *http.Request, ns, name string, body []byte, status bool) (out api.Object, created bool, err error) {
	manager, err := fieldManagerOf(r, true)
	if err != nil {
		return nil, false, err
	}
	force, err := forceOf(r, true)
	if err != nil {
		return nil, false, err
	}
	applied, err := h.applyConfiguration(w, r, ns, name, body)
	if err != nil {
		return nil, false, err
	}
	cur, err := h.s.cfg.Store.Get(r.Context(), h.k, ns, name)
	var live []byte
	switch {
	case err == nil:
		if live, err = json.Marshal(cur); err != nil {
			return nil, false, api.NewInternal(err)
		}
	case api.IsNotFound(err) && !status:
		cur = nil
	default:
		return nil, false, err
	}
	merged, err := h.s.fields.Apply(h.k, subresourceOf(status), live, applied, manager, force)
	if err != nil {
		return nil, false, err
	}
	obj, _, err := api.DecodeInto(h.k, merged)
	if err != nil {
		return nil, false, asStatus(h.k, name, err)
	}
	m := obj.GetObjectMeta()
	if m.ManagedFields == nil {
		m.ManagedFields = []api.ManagedFieldsEntry{}
	}
	if cur == nil {
		return h.applyCreate(r, ns, obj)
	}
	if m.Name != name || m.Namespace != cur.GetObjectMeta().Namespace {
		return nil, false, api.NewBadRequest("an apply may not change metadata.name or metadata.namespace")
	}
	// A resourceVersion in the configuration is a precondition, as in a patch.
	if rv := m.ResourceVersion; rv != "" && rv != cur.GetObjectMeta().ResourceVersion {
		return nil, false, &preconditionConflict{api.NewConflict(h.k, name,
			"the object has been modified; please apply your changes to the latest version and try again")}
	}
	m.ResourceVersion = cur.GetObjectMeta().ResourceVersion
	if err := h.s.admitWrite(r, obj); err != nil {
		return nil, false, err
	}
	if status {
		out, err = h.s.cfg.Store.UpdateStatus(api.WithManagedFields(r.Context()), obj)
	} else {
		out, err = h.s.cfg.Store.Update(r.Context(), obj)
	}
	return out, false, err
}

// applyCreate creates the object an apply made from nothing: the caller
// needs the right to create as well as to patch, as in Kubernetes.
func (h *kindHandler) applyCreate(r *http.Request, ns string, obj api.Object) (api.Object, bool, error) {
	req := RequestAccess(r)
	if req.ResourceAttributes != nil {
		req.ResourceAttributes.Verb = api.VerbCreate
	}
	if err := h.s.check(r, req); err != nil {
		return nil, false, err
	}
	if err := h.placeInNamespace(obj, ns); err != nil {
		return nil, false, err
	}
	if err := h.s.admitWrite(r, obj); err != nil {
		return nil, false, err
	}
	obj.GetObjectMeta().ResourceVersion = ""
	out, err := h.s.cfg.Store.Create(r.Context(), obj)
	if api.IsAlreadyExists(err) {
		// Created meanwhile: apply again, to it.
		return nil, false, api.NewConflict(h.k, obj.GetObjectMeta().Name, "the object was created meanwhile")
	}
	return out, err == nil, err
}

// applyConfiguration checks an apply configuration as Kubernetes does (its
// kind, name and namespace those of the URL, no managedFields), reports its
// unknown and duplicate fields as fieldValidation asks, and returns it
// without the unknown ones, which the typed merge would refuse.
func (h *kindHandler) applyConfiguration(w http.ResponseWriter, r *http.Request, ns, name string, body []byte) ([]byte, error) {
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // numbers written back as they came
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, api.NewBadRequest("the apply configuration is not a YAML or JSON object")
	}
	var head struct {
		api.TypeMeta
		Metadata *struct {
			Name          string            `json:"name"`
			Namespace     string            `json:"namespace"`
			ManagedFields []json.RawMessage `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return nil, asStatus(h.k, name, api.NewBadRequest("the apply configuration: "+err.Error()))
	}
	switch {
	case head.APIVersion == "" || head.Kind == "":
		return nil, api.NewBadRequest(fmt.Sprintf("the apply configuration needs apiVersion and kind: add apiVersion: %s and kind: %s",
			h.k.APIVersion(), h.k.Kind))
	case head.APIVersion != h.k.APIVersion() || head.Kind != h.k.Kind:
		return nil, api.NewBadRequest(fmt.Sprintf("the apply configuration is a %s %s, but this path serves %s %s",
			head.APIVersion, head.Kind, h.k.APIVersion(), h.k.Kind))
	case head.Metadata == nil || head.Metadata.Name == "":
		return nil, api.NewBadRequest("metadata.name: the apply configuration needs the object's name (" + name + ")")
	case head.Metadata.Name != name:
		return nil, api.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the URL (%s)", head.Metadata.Name, name))
	case h.k.Namespaced && head.Metadata.Namespace != "" && head.Metadata.Namespace != ns:
		return nil, api.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the request (%s)",
			head.Metadata.Namespace, ns))
	case head.Metadata.ManagedFields != nil:
		return nil, api.NewBadRequest("metadata.managedFields must be nil in an apply configuration; remove it")
	}
	unknown := api.PruneUnknown(h.k, doc)
	if err := checkFields(w, r, h.k, name, body, unknown); err != nil {
		return nil, err
	}
	if len(unknown) == 0 {
		return body, nil
	}
	pruned, err := json.Marshal(doc)
	if err != nil {
		return nil, api.NewInternal(err)
	}
	return pruned, nil
}
