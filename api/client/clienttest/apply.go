package clienttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// serveApply implements POST /shoal/v1/apply: every document is decoded and
// validated before anything is stored.
func (s *Server) serveApply(w http.ResponseWriter, r *http.Request, body []byte) {
	ns := r.URL.Query().Get("namespace")
	if ns == "" {
		ns = "default"
	}
	strict := r.URL.Query().Get("strict") == "true"
	docs, err := api.SplitDocuments(bytes.NewReader(body))
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	decoded, items, serr := decodeAll(docs, ns, strict)
	if serr != nil {
		writeError(w, serr)
		return
	}
	for _, it := range items {
		for _, text := range it.Warnings {
			w.Header().Add("Warning", fmt.Sprintf("299 - %q", text))
		}
	}
	s.mu.Lock()
	for i, d := range decoded {
		items[i].Action = s.applyOne(d)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, client.ApplyResult{TypeMeta: api.TypeMeta{Kind: "ApplyResult", APIVersion: "shoal/v1"}, Items: items})
}

func decodeAll(docs [][]byte, ns string, strict bool) ([]*api.Decoded, []client.ApplyItem, *api.StatusError) {
	decoded := make([]*api.Decoded, len(docs))
	items := make([]client.ApplyItem, len(docs))
	for i, doc := range docs {
		d, err := api.Decode(doc)
		if err != nil {
			return nil, nil, api.NewBadRequest(fmt.Sprintf("document %d: %v", i+1, err))
		}
		m := d.Object.GetObjectMeta()
		if d.Kind.Namespaced && m.Namespace == "" {
			m.Namespace = ns
		}
		var warnings []string
		for _, f := range d.UnknownFields {
			warnings = append(warnings, fmt.Sprintf("unknown field %q", f))
		}
		if strict && len(warnings) > 0 {
			return nil, nil, api.NewStatusError(http.StatusUnprocessableEntity, api.ReasonInvalid,
				fmt.Sprintf("document %d (%s %q): %s", i+1, d.Kind.Kind, m.Name, warnings[0]))
		}
		api.Default(d.Object)
		if err := api.Validate(d.Object); err != nil {
			se := invalid(d.Kind, m.Name, err)
			se.ErrStatus.Message = fmt.Sprintf("document %d: %s", i+1, se.ErrStatus.Message)
			return nil, nil, se
		}
		decoded[i] = d
		items[i] = client.ApplyItem{Kind: d.Kind.Kind, APIVersion: d.Kind.APIVersion(), Namespace: m.Namespace,
			Name: m.Name, Warnings: warnings}
	}
	return decoded, items, nil
}

// applyOne creates or updates one object; the caller holds s.mu.
func (s *Server) applyOne(d *api.Decoded) string {
	m := d.Object.GetObjectMeta()
	cur, found := s.objects[key(d.Kind, m.Namespace, m.Name)]
	if !found {
		m.Generation = firstGeneration(d.Object)
		s.put(d.Kind, d.Object, api.Added)
		return client.ApplyCreated
	}
	if sameDesired(cur, d.Object) {
		return client.ApplyUnchanged
	}
	cm := cur.GetObjectMeta()
	m.UID, m.CreationTimestamp, m.DeletionTimestamp = cm.UID, cm.CreationTimestamp, cm.DeletionTimestamp
	m.Generation = nextGeneration(cur, d.Object)
	if d.Kind.HasStatus {
		_ = copyField(d.Object, cur, "status")
	}
	s.put(d.Kind, d.Object, api.Modified)
	return client.ApplyConfigured
}

// sameDesired compares everything but the status and the server's metadata.
func sameDesired(a, b api.Object) bool {
	strip := func(o api.Object) map[string]any {
		m, err := toMap(o)
		if err != nil {
			return nil
		}
		delete(m, "status")
		meta, _ := m["metadata"].(map[string]any)
		for _, f := range []string{"uid", "resourceVersion", "creationTimestamp", "generation", "deletionTimestamp"} {
			delete(meta, f)
		}
		return m
	}
	ja, _ := json.Marshal(strip(a))
	jb, _ := json.Marshal(strip(b))
	return bytes.Equal(ja, jb)
}
