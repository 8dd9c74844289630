package clienttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// Request is one request the server received.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Server is the fake agent. Its exported fields may be set before the first
// request.
type Server struct {
	*httptest.Server

	// Token, when set, must come as "Authorization: Bearer <Token>".
	Token string
	// Version is what /version answers.
	Version client.VersionInfo
	// PodTermination keeps a deleted pod Terminating (deletionTimestamp set)
	// this long, unless the delete asked for a grace period of 0.
	PodTermination time.Duration
	// Exec runs the command of an exec request; nil answers 400.
	Exec ExecFunc

	mu       sync.Mutex
	objects  map[objKey]api.Object
	rv       int64
	uid      int64
	requests []Request
	warnings []string
	logs     map[string]string
	watchers map[*watcher]struct{}
	members  api.MemberList
	// history keeps recent changes for watches from a resourceVersion.
	history        []pastEvent
	historyTrimmed bool
}

type objKey struct {
	kind, ns, name string
}

// NewServer starts a server that stops when the test ends.
func NewServer(tb testing.TB) *Server {
	s := &Server{
		Version:  client.VersionInfo{GitVersion: "v0.1.0", GoVersion: "go1.26", Platform: "linux/amd64"},
		objects:  map[objKey]api.Object{},
		logs:     map[string]string{},
		watchers: map[*watcher]struct{}{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Add stores objects as they are, filling uid, resourceVersion and
// creationTimestamp when empty, and tells the watchers.
func (s *Server) Add(objs ...api.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range objs {
		k := api.KindOf(o)
		tm := o.GetTypeMeta()
		tm.Kind, tm.APIVersion = k.Kind, k.APIVersion()
		s.put(k, o, api.Added)
	}
}

// Update changes a stored object in place, as a controller would (a status,
// say), and tells the watchers; it reports whether the object exists.
// Generation is left as mutate sets it.
func (s *Server) Update(k *api.Kind, ns, name string, mutate func(api.Object)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, found := s.objects[key(k, ns, name)]
	if !found {
		return false
	}
	mutate(o)
	s.put(k, o, api.Modified)
	return true
}

// Remove deletes an object at once and tells the watchers.
func (s *Server) Remove(k *api.Kind, ns, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(k, key(k, ns, name))
}

// Object returns a stored object, or nil.
func (s *Server) Object(k *api.Kind, ns, name string) api.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objects[key(k, ns, name)]
}

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SetWarnings makes every answer carry these warnings as Warning headers.
func (s *Server) SetWarnings(w ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.warnings = w
}

// SetLogs sets the log text of a pod's container ("" for the default one).
func (s *Server) SetLogs(ns, pod, container, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[ns+"/"+pod+"/"+container] = text
}

func key(k *api.Kind, ns, name string) objKey {
	if !k.Namespaced {
		ns = ""
	}
	return objKey{k.Kind, ns, name}
}

// put stores o with a new resourceVersion; the caller holds s.mu.
func (s *Server) put(k *api.Kind, o api.Object, event string) {
	m := o.GetObjectMeta()
	if k.Namespaced && m.Namespace == "" {
		m.Namespace = "default"
	}
	if !k.Namespaced {
		m.Namespace = ""
	}
	if m.UID == "" {
		s.uid++
		m.UID = fmt.Sprintf("uid-%d", s.uid)
	}
	if m.CreationTimestamp.IsZero() {
		m.CreationTimestamp = api.Now()
	}
	s.rv++
	m.ResourceVersion = strconv.FormatInt(s.rv, 10)
	s.objects[key(k, m.Namespace, m.Name)] = o
	s.notify(k, event, o)
}

func (s *Server) remove(k *api.Kind, ok objKey) api.Object {
	o, found := s.objects[ok]
	if !found {
		return nil
	}
	delete(s.objects, ok)
	s.rv++
	o.GetObjectMeta().ResourceVersion = strconv.FormatInt(s.rv, 10)
	s.notify(k, api.Deleted, o)
	return o
}

// list returns the objects of a kind in ns ("" for all) matching sel, sorted
// by namespace and name; the caller holds s.mu.
func (s *Server) list(k *api.Kind, ns string, sel api.Selector) []api.Object {
	var out []api.Object
	for ok, o := range s.objects {
		if ok.kind != k.Kind || (ns != "" && k.Namespaced && ok.ns != ns) {
			continue
		}
		if sel.Matches(o.GetObjectMeta().Labels) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].GetObjectMeta(), out[j].GetObjectMeta()
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return out
}

func (s *Server) record(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body})
	return body, nil
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := s.record(r)
	if err != nil {
		writeError(w, api.NewBadRequest("reading the body: "+err.Error()))
		return
	}
	s.mu.Lock()
	for _, text := range s.warnings {
		w.Header().Add("Warning", fmt.Sprintf("299 - %q", text))
	}
	s.mu.Unlock()
	if s.Token != "" && r.Header.Get("Authorization") != "Bearer "+s.Token {
		writeError(w, api.NewStatusError(http.StatusUnauthorized, api.ReasonUnauthorized, "Unauthorized"))
		return
	}
	switch p := r.URL.Path; {
	case p == "/healthz":
		_, _ = io.WriteString(w, "ok")
	case p == "/version":
		writeJSON(w, http.StatusOK, s.Version)
	case p == "/shoal/v1/apply" && r.Method == http.MethodPost:
		s.serveApply(w, r, body)
	case p == "/shoal/v1/members":
		s.serveMembers(w, r)
	default:
		s.serveResource(w, r, body)
	}
}

// target is a parsed resource path.
type target struct {
	kind      *api.Kind
	ns        string
	name, sub string
}

func parsePath(p string) (target, error) {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	var group string
	switch {
	case len(parts) >= 3 && parts[0] == "api" && parts[1] == "v1":
		parts = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return target{}, fmt.Errorf("the server could not find the requested resource")
	}
	var t target
	if len(parts) >= 3 && parts[0] == "namespaces" {
		t.ns, parts = parts[1], parts[2:]
	}
	k, ok := api.KindByResource(group, parts[0])
	if !ok || len(parts) > 3 {
		return target{}, fmt.Errorf("the server could not find the requested resource")
	}
	t.kind = k
	if len(parts) > 1 {
		t.name = parts[1]
	}
	if len(parts) > 2 {
		t.sub = parts[2]
	}
	return t, nil
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, body []byte) {
	t, err := parsePath(r.URL.Path)
	if err != nil {
		writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound, err.Error()))
		return
	}
	sel, err := api.ParseSelector(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	switch {
	case t.name == "" && r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		s.serveWatch(w, r, t, sel)
	case t.name == "":
		s.serveCollection(w, r, t, sel, body)
	case t.sub == "":
		s.serveObject(w, r, t, body)
	case t.sub == "status":
		s.serveStatus(w, r, t, body)
	case t.sub == "scale":
		s.serveScale(w, r, t, body)
	case t.sub == "log" && t.kind == api.KindPod:
		s.serveLog(w, r, t)
	case t.sub == "exec" && t.kind == api.KindPod:
		s.serveExec(w, r, t)
	default:
		writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound, "the server could not find the requested resource"))
	}
}

func (s *Server) serveCollection(w http.ResponseWriter, r *http.Request, t target, sel api.Selector, body []byte) {
	switch r.Method {
	case http.MethodGet:
		s.mu.Lock()
		list, err := encodeList(t.kind, s.list(t.kind, t.ns, sel), s.rv)
		s.mu.Unlock()
		writeRaw(w, list, err)
	case http.MethodPost:
		s.create(w, t, body)
	case http.MethodDelete:
		s.mu.Lock()
		items := s.list(t.kind, t.ns, sel)
		for _, o := range items {
			m := o.GetObjectMeta()
			s.remove(t.kind, key(t.kind, m.Namespace, m.Name))
		}
		list, err := encodeList(t.kind, items, s.rv)
		s.mu.Unlock()
		writeRaw(w, list, err)
	default:
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, r.Method+" is not allowed on a collection"))
	}
}

func (s *Server) create(w http.ResponseWriter, t target, body []byte) {
	obj, _, err := api.DecodeInto(t.kind, body)
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	m := obj.GetObjectMeta()
	if t.ns != "" {
		m.Namespace = t.ns
	}
	if m.Name == "" && m.GenerateName != "" {
		s.mu.Lock()
		s.uid++
		m.Name = fmt.Sprintf("%s%05d", m.GenerateName, s.uid)
		s.mu.Unlock()
	}
	m.UID, m.ResourceVersion, m.CreationTimestamp = "", "", api.Time{}
	m.Generation = firstGeneration(obj)
	api.Default(obj)
	if err := api.Validate(obj); err != nil {
		writeError(w, invalid(t.kind, m.Name, err))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.objects[key(t.kind, m.Namespace, m.Name)]; exists {
		writeError(w, api.NewAlreadyExists(t.kind, m.Name))
		return
	}
	s.put(t.kind, obj, api.Added)
	writeJSON(w, http.StatusCreated, obj)
}

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, t target, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(t.kind, t.ns, t.name)
	cur, found := s.objects[k]
	if !found {
		writeError(w, api.NewNotFound(t.kind, t.name))
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, cur)
	case http.MethodPut:
		s.replace(w, t, cur, body)
	case http.MethodPatch:
		s.patch(w, t, cur, body)
	case http.MethodDelete:
		s.deleteObject(w, r, t, cur, body)
	default:
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, r.Method+" is not allowed on an object"))
	}
}

// replace stores body in place of cur, keeping cur's status and identity;
// the caller holds s.mu.
func (s *Server) replace(w http.ResponseWriter, t target, cur api.Object, body []byte) {
	obj, _, err := api.DecodeInto(t.kind, body)
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	cm, m := cur.GetObjectMeta(), obj.GetObjectMeta()
	if m.ResourceVersion != "" && m.ResourceVersion != cm.ResourceVersion {
		writeError(w, api.NewConflict(t.kind, t.name, "the object has been modified; please apply your changes to the latest version and try again"))
		return
	}
	if t.kind.HasStatus {
		if err := copyField(obj, cur, "status"); err != nil {
			writeError(w, api.NewInternal(err))
			return
		}
	}
	s.store(w, t, cur, obj)
}

// store finishes a write of obj over cur: identity kept, defaults, validation.
func (s *Server) store(w http.ResponseWriter, t target, cur, obj api.Object) {
	cm, m := cur.GetObjectMeta(), obj.GetObjectMeta()
	m.Name, m.Namespace, m.UID, m.CreationTimestamp = cm.Name, cm.Namespace, cm.UID, cm.CreationTimestamp
	m.DeletionTimestamp = cm.DeletionTimestamp
	api.Default(obj)
	if err := api.Validate(obj); err != nil {
		writeError(w, invalid(t.kind, t.name, err))
		return
	}
	m.Generation = nextGeneration(cur, obj)
	s.put(t.kind, obj, api.Modified)
	writeJSON(w, http.StatusOK, obj)
}

func (s *Server) patch(w http.ResponseWriter, t target, cur api.Object, body []byte) {
	merged, err := mergePatch(cur, body)
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	obj, _, err := api.DecodeInto(t.kind, merged)
	if err != nil {
		writeError(w, api.NewBadRequest(err.Error()))
		return
	}
	s.store(w, t, cur, obj)
}

func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, t target, cur api.Object, body []byte) {
	grace := r.URL.Query().Get("gracePeriodSeconds")
	var opts struct {
		GracePeriodSeconds *int64 `json:"gracePeriodSeconds"`
	}
	if len(body) > 0 && json.Unmarshal(body, &opts) == nil && opts.GracePeriodSeconds != nil {
		grace = strconv.FormatInt(*opts.GracePeriodSeconds, 10)
	}
	k := key(t.kind, t.ns, t.name)
	if t.kind == api.KindPod && s.PodTermination > 0 && grace != "0" {
		if cur.GetObjectMeta().DeletionTimestamp == nil {
			cur.GetObjectMeta().DeletionTimestamp = api.NowPtr()
			s.put(t.kind, cur, api.Modified)
			time.AfterFunc(s.PodTermination, func() { s.Remove(t.kind, k.ns, k.name) })
		}
		writeJSON(w, http.StatusOK, cur)
		return
	}
	s.remove(t.kind, k)
	writeJSON(w, http.StatusOK, cur)
}

func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request, t target, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, found := s.objects[key(t.kind, t.ns, t.name)]
	if !found {
		writeError(w, api.NewNotFound(t.kind, t.name))
		return
	}
	switch r.Method {
	case http.MethodGet:
		writeJSON(w, http.StatusOK, cur)
	case http.MethodPut:
		in, _, err := api.DecodeInto(t.kind, body)
		if err != nil {
			writeError(w, api.NewBadRequest(err.Error()))
			return
		}
		obj, err := clone(t.kind, cur)
		if err == nil {
			err = copyField(obj, in, "status")
		}
		if err != nil {
			writeError(w, api.NewInternal(err))
			return
		}
		s.put(t.kind, obj, api.Modified)
		writeJSON(w, http.StatusOK, obj)
	default:
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow, r.Method+" is not allowed on status"))
	}
}

func (s *Server) serveLog(w http.ResponseWriter, r *http.Request, t target) {
	s.mu.Lock()
	_, found := s.objects[key(t.kind, t.ns, t.name)]
	text, hasLog := s.logs[t.ns+"/"+t.name+"/"+r.URL.Query().Get("container")]
	s.mu.Unlock()
	if !found {
		writeError(w, api.NewNotFound(t.kind, t.name))
		return
	}
	if !hasLog {
		writeError(w, api.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log", r.URL.Query().Get("container"), t.name)))
		return
	}
	if n, err := strconv.Atoi(r.URL.Query().Get("tailLines")); err == nil {
		text = tail(text, n)
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, text)
}

func tail(text string, n int) string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err *api.StatusError) {
	writeJSON(w, err.Code(), err.ErrStatus)
}

// encodeList encodes a list while the caller holds s.mu: the items are the
// stored objects themselves, which later writes change in place.
func encodeList(k *api.Kind, items []api.Object, rv int64) (json.RawMessage, error) {
	if items == nil {
		items = []api.Object{}
	}
	return json.Marshal(map[string]any{
		"kind": k.ListKind(), "apiVersion": k.APIVersion(),
		"metadata": api.ListMeta{ResourceVersion: strconv.FormatInt(rv, 10)},
		"items":    items,
	})
}

// writeRaw answers with JSON encoded before, or the error encoding it.
func writeRaw(w http.ResponseWriter, data json.RawMessage, err error) {
	if err != nil {
		writeError(w, api.NewInternal(err))
		return
	}
	writeJSON(w, http.StatusOK, data)
}

func invalid(k *api.Kind, name string, err error) *api.StatusError {
	var fe api.FieldErrors
	if errors.As(err, &fe) {
		return api.NewInvalid(k, name, fe)
	}
	return api.NewBadRequest(err.Error())
}
