package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Authenticator finds who sends a request: nil (and no error) when the
// request carries no credential.
type Authenticator interface {
	Authenticate(r *http.Request) (*api.UserInfo, error)
}

// Authorizer decides requests, and vets the objects a caller writes.
type Authorizer interface {
	Authorize(ctx context.Context, u *api.UserInfo, req api.AccessRequest) (allowed bool, reason string)
	// AdmitWrite refuses writes RBAC would allow but that must not happen
	// (a role escalating its writer's permissions, a node writing another
	// node's object).
	AdmitWrite(ctx context.Context, u *api.UserInfo, obj api.Object) error
}

type userKey struct{}

// WithUser marks a request context as already authenticated: the agent's
// own listeners use it for the local socket and for requests another agent
// forwarded on a caller's behalf.
func WithUser(ctx context.Context, u *api.UserInfo) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the caller of a request, or nil.
func UserFrom(ctx context.Context) *api.UserInfo {
	u, _ := ctx.Value(userKey{}).(*api.UserInfo)
	return u
}

// publicPaths answer without credentials, as Kubernetes' public info.
var publicPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true}

// selfAuthorizing paths authorise each object of the request themselves.
var selfAuthorizing = map[string]bool{"/shoal/v1/apply": true}

// unauthorizedMessage tells a caller without credentials what to do.
const unauthorizedMessage = "Unauthorized: this API needs a bearer token or a client certificate of the cluster; " +
	"use the kubeconfig the first agent wrote (<data-dir>/admin.kubeconfig) or a token from `shoal token create`"

// authenticate finds the caller and puts it in the request's context; it
// answers 401 and returns false when there is none.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	if s.cfg.Authenticator == nil || publicPaths[r.URL.Path] {
		return r, true
	}
	if u := UserFrom(r.Context()); u != nil {
		return r, true
	}
	u, err := s.cfg.Authenticator.Authenticate(r)
	if err != nil {
		writeError(w, api.NewUnauthorized("Unauthorized: "+err.Error()))
		return r, false
	}
	if u == nil {
		writeError(w, api.NewUnauthorized(unauthorizedMessage))
		return r, false
	}
	return r.WithContext(WithUser(r.Context(), u)), true
}

// authorizeRequest checks the request as a whole: on the resource its path
// names, or on the path itself.
func (s *Server) authorizeRequest(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Authorizer == nil || publicPaths[r.URL.Path] || selfAuthorizing[r.URL.Path] {
		return true
	}
	if access := s.access[r.URL.Path]; access != nil {
		reqs, err := access(r)
		if err != nil {
			writeError(w, api.NewBadRequest(err.Error()))
			return false
		}
		for _, req := range reqs {
			if !s.authorize(w, r, req) {
				return false
			}
		}
		return len(reqs) > 0 || s.authorize(w, r, RequestAccess(r))
	}
	return s.authorize(w, r, RequestAccess(r))
}

// authorize answers 403 and returns false unless the caller may do req.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, req api.AccessRequest) bool {
	if s.cfg.Authorizer == nil {
		return true
	}
	if err := s.check(r, req); err != nil {
		writeError(w, err)
		return false
	}
	return true
}

// check returns a Forbidden error unless the caller may do req.
func (s *Server) check(r *http.Request, req api.AccessRequest) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	u := UserFrom(r.Context())
	if u == nil {
		return api.NewUnauthorized(unauthorizedMessage)
	}
	ok, reason := s.cfg.Authorizer.Authorize(r.Context(), u, req)
	if ok {
		return nil
	}
	s.log.Debug("request refused", "user", u.Username, "reason", reason, "method", r.Method, "path", r.URL.Path)
	if a := req.ResourceAttributes; a != nil {
		return api.NewStatusError(http.StatusForbidden, api.ReasonForbidden, api.ForbiddenMessage(u, a))
	}
	na := req.NonResourceAttributes
	return api.NewStatusError(http.StatusForbidden, api.ReasonForbidden,
		fmt.Sprintf("forbidden: User %q cannot %s path %q", u.Username, na.Verb, na.Path))
}

// admitWrite vets an object the caller is about to write.
func (s *Server) admitWrite(r *http.Request, obj api.Object) error {
	if s.cfg.Authorizer == nil {
		return nil
	}
	u := UserFrom(r.Context())
	if u == nil {
		return api.NewUnauthorized(unauthorizedMessage)
	}
	return s.cfg.Authorizer.AdmitWrite(r.Context(), u, obj)
}

// RequestAccess reads what a request asks to do from its method and path,
// as Kubernetes does: /api/v1/..., /apis/<group>/<version>/..., then
// optionally namespaces/<ns>/, then <resource>[/<name>[/<subresource>]].
// Any other path is a non-resource request.
func RequestAccess(r *http.Request) api.AccessRequest {
	nonResource := api.AccessRequest{NonResourceAttributes: &api.NonResourceAttributes{Path: r.URL.Path, Verb: pathVerb(r.Method)}}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	a := &api.ResourceAttributes{}
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		a.Version, parts = parts[1], parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		a.Group, a.Version, parts = parts[1], parts[2], parts[3:]
	default:
		return nonResource
	}
	// namespaces/<ns>/<resource>... is namespaced; namespaces/<name> (and
	// its status and finalize subresources) is the namespace itself, whose
	// namespace attribute is its own name (as in Kubernetes).
	if len(parts) >= 2 && parts[0] == "namespaces" {
		a.Namespace = parts[1]
		if len(parts) > 2 && parts[2] != "status" && parts[2] != "finalize" {
			parts = parts[2:]
		}
	}
	a.Resource = parts[0]
	if len(parts) > 1 {
		a.Name = parts[1]
	}
	if len(parts) > 2 {
		a.Subresource = strings.Join(parts[2:], "/")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case a.Resource == "pods" && (a.Subresource == "exec" || a.Subresource == "attach" || a.Subresource == "portforward"):
			// A websocket is opened with a GET, but these run a command or
			// reach into the pod: create, as Kubernetes asks since 1.30.
			a.Verb = api.VerbCreate
		case a.Name != "":
			a.Verb = api.VerbGet
		case isTrue(r.URL.Query().Get("watch")):
			a.Verb = api.VerbWatch
		default:
			a.Verb = api.VerbList
		}
	case http.MethodPost:
		a.Verb = api.VerbCreate
	case http.MethodPut:
		a.Verb = api.VerbUpdate
	case http.MethodPatch:
		a.Verb = api.VerbPatch
	case http.MethodDelete:
		a.Verb = api.VerbDelete
		if a.Name == "" {
			a.Verb = api.VerbDeleteCollection
		}
	default:
		return nonResource
	}
	return api.AccessRequest{ResourceAttributes: a}
}

func isTrue(s string) bool {
	b, err := strconv.ParseBool(s)
	return err == nil && b
}

func pathVerb(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return api.VerbGet
	case http.MethodPost:
		return "post"
	case http.MethodPut:
		return "put"
	case http.MethodPatch:
		return api.VerbPatch
	case http.MethodDelete:
		return api.VerbDelete
	}
	return strings.ToLower(method)
}

// selfSubjectAccessReview answers `kubectl auth can-i`.
func (s *Server) selfSubjectAccessReview(w http.ResponseWriter, r *http.Request) {
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var rev api.SelfSubjectAccessReview
	if err := json.Unmarshal(body, &rev); err != nil {
		writeError(w, api.NewBadRequest("body is not a SelfSubjectAccessReview: "+err.Error()))
		return
	}
	if (rev.Spec.ResourceAttributes == nil) == (rev.Spec.NonResourceAttributes == nil) {
		writeError(w, api.NewBadRequest("spec: give exactly one of resourceAttributes and nonResourceAttributes"))
		return
	}
	u := UserFrom(r.Context())
	if s.cfg.Authorizer == nil || u == nil {
		rev.Status = api.SubjectAccessReviewStatus{Allowed: true, Reason: "this server does not authorise requests"}
	} else {
		ok, reason := s.cfg.Authorizer.Authorize(r.Context(), u, rev.Spec)
		rev.Status = api.SubjectAccessReviewStatus{Allowed: ok, Reason: reason}
	}
	rev.APIVersion, rev.Kind = "authorization.k8s.io/v1", "SelfSubjectAccessReview"
	writeJSON(w, http.StatusCreated, rev)
}

// selfSubjectReview answers `kubectl auth whoami`.
func (s *Server) selfSubjectReview(w http.ResponseWriter, r *http.Request) {
	rev := api.SelfSubjectReview{TypeMeta: api.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "SelfSubjectReview"}}
	if u := UserFrom(r.Context()); u != nil {
		rev.Status.UserInfo = *u
	}
	writeJSON(w, http.StatusCreated, rev)
}
