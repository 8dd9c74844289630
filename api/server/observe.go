package server

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// RequestObserver is told of every request the server answered, for the
// agent's metrics. verb and resource come from fixed sets (the verbs of
// RequestAccess, or the lower-case method for a path that names no
// resource; the kind registry's resources, with a known subresource as
// "pods/log"; "" for a path that names no known resource), so they can be
// labels. timed is false for watches and streams, whose length is the
// client's. It must not block.
type RequestObserver interface {
	ObserveRequest(verb, resource string, code int, took time.Duration, timed bool)
}

// subresources are the subresources a request's resource label keeps; any
// other is left out of the label.
var subresources = []string{"status", "scale", "log", "exec", "attach", "portforward", "top", "binding", "eviction", "finalize"}

// streamSubresources are answered by streams of the client's length.
var streamSubresources = map[string]bool{"log": true, "exec": true, "attach": true, "portforward": true}

type groupResource struct{ group, resource string }

// resourceLabels are the resource labels of every kind and its
// subresources, made once so that labelling a request allocates nothing.
type resourceLabels map[groupResource]map[string]string

func newResourceLabels() resourceLabels {
	out := resourceLabels{}
	for _, k := range api.Kinds {
		subs := map[string]string{"": k.Resource}
		for _, s := range subresources {
			subs[s] = k.Resource + "/" + s
		}
		out[groupResource{k.Group, k.Resource}] = subs
	}
	return out
}

// label reads a request's verb and resource label from its method and path
// as RequestAccess does, without allocating; stream reports a watch or a
// streaming subresource.
func (rl resourceLabels) label(r *http.Request) (verb, resource string, stream bool) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	next := func() string {
		seg, rest, _ := strings.Cut(p, "/")
		p = rest
		return seg
	}
	var group string
	switch root := next(); {
	case root == "api" && strings.Contains(p, "/"):
		next() // version
	case root == "apis" && strings.Count(p, "/") >= 2:
		group = next()
		next() // version
	default:
		return pathVerb(r.Method), "", false
	}
	res := next()
	var name, sub string
	if res == "namespaces" && p != "" {
		name = next()
		if p != "" && p != "status" && p != "finalize" {
			res, name = next(), ""
		} else {
			sub = p
		}
	}
	if name == "" {
		name = next()
	}
	if sub == "" {
		sub = p
	}
	subs := rl[groupResource{group, res}]
	if subs == nil {
		return methodVerb(r, name, sub), "", false
	}
	if resource = subs[sub]; resource == "" {
		resource = subs[""]
	}
	verb = methodVerb(r, name, sub)
	return verb, resource, verb == api.VerbWatch || streamSubresources[sub]
}

// methodVerb is RequestAccess's verb of a resource request.
func methodVerb(r *http.Request, name, sub string) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case sub == "exec" || sub == "attach" || sub == "portforward":
			return api.VerbCreate
		case name != "":
			return api.VerbGet
		case strings.Contains(r.URL.RawQuery, "watch=") && isTrue(r.URL.Query().Get("watch")):
			return api.VerbWatch
		}
		return api.VerbList
	case http.MethodPost:
		return api.VerbCreate
	case http.MethodPut:
		return api.VerbUpdate
	case http.MethodPatch:
		return api.VerbPatch
	case http.MethodDelete:
		if name == "" {
			return api.VerbDeleteCollection
		}
		return api.VerbDelete
	}
	return pathVerb(r.Method)
}

// statusRecorder remembers the status code of the answer. Unwrap lets
// http.ResponseController reach the connection underneath; Flush and
// Hijack are there for the callers that ask for the interfaces directly.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	// 1xx other than 101 are interim: the final status comes later.
	if w.code == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// FlushError is what http.ResponseController calls to flush: the error
// (a write deadline passed, a client gone) must reach the caller, which
// cuts a watch that stopped reading by it.
func (w *statusRecorder) FlushError() error {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusRecorder) Flush() { _ = w.FlushError() }

// Hijack counts the request as switched protocols: whoever takes the
// connection writes the answer on it.
func (w *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return c, brw, err
}

// observe reports a finished request to the observer.
func (s *Server) observe(w *statusRecorder, r *http.Request, start time.Time) {
	verb, resource, stream := s.labels.label(r)
	code := w.code
	if code == 0 {
		code = http.StatusOK // nothing written: net/http sends 200
	}
	s.cfg.Observer.ObserveRequest(verb, resource, code, time.Since(start), !stream)
}
