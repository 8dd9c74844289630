package server

import (
	"net/http"
	"strings"
	"sync"

	"k8s.io/kube-openapi/pkg/cached"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// openAPIDocs serve the OpenAPI documents of the routes: kube-openapi's
// handlers negotiate JSON or protobuf (kubectl asks /openapi/v2 for
// protobuf only), answer ETags, and serve /openapi/v3's index with a hash
// in each group version's URL.
type openAPIDocs struct {
	v2 *handler.OpenAPIService
	v3 *handler3.OpenAPIService
	// v3Keys are the group versions of /openapi/v3: "api/v1", "apis/apps/v1".
	v3Keys map[string]bool
}

// pathMux adapts the router to kube-openapi's handler registration.
type pathMux struct{ s *Server }

func (m pathMux) Handle(path string, h http.Handler) {
	m.s.router.Handle(path, h).Methods(http.MethodGet, http.MethodHead)
}

// openAPIRoutes serves the documents of the resources. They are built on
// the first request (tens of milliseconds), not with the server.
func (s *Server) openAPIRoutes(resources []openapi.Resource) {
	opts := openapi.Options{Version: s.cfg.Version, PatchTypes: patchTypes}
	v2 := cached.Once(cached.Func(func() (*spec.Swagger, string, error) {
		return openapi.V2(resources, opts), "", nil
	}))
	v3 := sync.OnceValue(func() map[string]*spec3.OpenAPI { return openapi.V3(resources, opts) })
	docs := &openAPIDocs{v2: handler.NewOpenAPIServiceLazy(v2), v3: handler3.NewOpenAPIService(), v3Keys: map[string]bool{}}
	for _, key := range openapi.V3Keys(resources) {
		docs.v3.UpdateGroupVersionLazy(key, cached.Once(cached.Func(func() (*spec3.OpenAPI, string, error) {
			return v3()[key], "", nil
		})))
		docs.v3Keys[key] = true
	}
	s.openAPI = docs
	docs.v2.RegisterOpenAPIVersionedService("/openapi/v2", pathMux{s})
	s.router.HandleFunc("/openapi/v3", docs.v3.HandleDiscovery).Methods(http.MethodGet, http.MethodHead)
	s.router.PathPrefix("/openapi/v3/").HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/openapi/v3/")
		if !docs.v3Keys[key] {
			// kube-openapi answers an unknown group version with an empty 200.
			writeError(w, api.NewStatusError(http.StatusNotFound, api.ReasonNotFound,
				"the server has no OpenAPI document for "+key+"; /openapi/v3 lists those it has"))
			return
		}
		docs.v3.HandleGroupVersion(w, r)
	}).Methods(http.MethodGet, http.MethodHead)
}
