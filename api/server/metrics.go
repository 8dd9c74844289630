package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// ResourceMetrics is the source of the resource metrics API
// (metrics.k8s.io/v1beta1): the last measured usage of every pod and
// node of the cluster. A node that cannot be asked is left out, as
// metrics-server leaves out a node it cannot scrape.
type ResourceMetrics interface {
	PodMetrics(ctx context.Context) ([]api.PodMetrics, error)
	NodeMetrics(ctx context.Context) ([]api.NodeMetrics, error)
}

const metricsPrefix = "/apis/" + api.MetricsGroupVersion

// metricsResources are the resources of the metrics API, for discovery:
// read-only, neither stored nor watched.
var metricsResources = []openapi.Resource{
	{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "pods", Singular: "", Kind: "PodMetrics", Namespaced: true,
		Verbs: []string{api.VerbGet, api.VerbList}, Object: &api.PodMetrics{}},
	{Group: "metrics.k8s.io", Version: "v1beta1", Resource: "nodes", Singular: "", Kind: "NodeMetrics",
		Verbs: []string{api.VerbGet, api.VerbList}, Object: &api.NodeMetrics{}},
}

// podMetricsKind and nodeMetricsKind name the resources in errors.
var (
	podMetricsKind  = &api.Kind{Kind: "PodMetrics", Resource: "pods", Group: "metrics.k8s.io", Version: "v1beta1", Namespaced: true}
	nodeMetricsKind = &api.Kind{Kind: "NodeMetrics", Resource: "nodes", Group: "metrics.k8s.io", Version: "v1beta1"}
)

func (s *Server) metricsRoutes() {
	if s.cfg.Metrics == nil {
		return
	}
	r := s.router
	r.HandleFunc(metricsPrefix+"/pods", s.podMetrics).Methods(http.MethodGet)
	r.HandleFunc(metricsPrefix+"/namespaces/{namespace}/pods", s.podMetrics).Methods(http.MethodGet)
	r.HandleFunc(metricsPrefix+"/namespaces/{namespace}/pods/{name}", s.podMetrics).Methods(http.MethodGet)
	r.HandleFunc(metricsPrefix+"/nodes", s.nodeMetrics).Methods(http.MethodGet)
	r.HandleFunc(metricsPrefix+"/nodes/{name}", s.nodeMetrics).Methods(http.MethodGet)
}

// metricsSelector reads the label selector of a metrics list; a watch is
// refused (the API serves the last readings, not a stream of them).
func metricsSelector(r *http.Request) (api.Selector, error) {
	q := r.URL.Query()
	if isTrue(q.Get("watch")) {
		return nil, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow,
			"the resource metrics API cannot be watched; list it again instead")
	}
	if s := q.Get("labelSelector"); s != "" {
		sel, err := api.ParseSelector(s)
		if err != nil {
			return nil, api.NewBadRequest("labelSelector: " + err.Error())
		}
		return sel, nil
	}
	return nil, nil
}

// podMetrics lists or gets PodMetrics. The pods' labels come from the
// pods themselves (as metrics-server copies them), which is also how a
// label selector chooses; metrics of a pod deleted since are left out.
func (s *Server) podMetrics(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	ns, name := v["namespace"], v["name"]
	sel, err := metricsSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all, err := s.cfg.Metrics.PodMetrics(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	pods, _, err := s.cfg.Store.List(r.Context(), api.KindPod, ns, sel)
	if err != nil {
		writeError(w, err)
		return
	}
	known := make(map[[2]string]*api.Pod, len(pods))
	for _, o := range pods {
		p := o.(*api.Pod)
		known[[2]string{p.Namespace, p.Name}] = p
	}
	items := []api.PodMetrics{}
	for _, m := range all {
		p := known[[2]string{m.Namespace, m.Name}]
		if p == nil || (m.UID != "" && m.UID != p.UID) || (name != "" && m.Name != name) {
			continue
		}
		m.Labels, m.UID = p.Labels, ""
		m.CreationTimestamp = m.Timestamp
		items = append(items, m)
	}
	if name != "" {
		if len(items) == 0 {
			writeError(w, api.NewNotFound(podMetricsKind, name))
			return
		}
		writeJSON(w, http.StatusOK, items[0])
		return
	}
	writeJSON(w, http.StatusOK, api.PodMetricsList{TypeMeta: api.TypeMeta{Kind: "PodMetricsList", APIVersion: api.MetricsGroupVersion},
		Items: items})
}

// nodeMetrics lists or gets NodeMetrics, with the nodes' labels.
func (s *Server) nodeMetrics(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	sel, err := metricsSelector(r)
	if err != nil {
		writeError(w, err)
		return
	}
	all, err := s.cfg.Metrics.NodeMetrics(r.Context())
	if err != nil {
		writeError(w, err)
		return
	}
	nodes, _, err := s.cfg.Store.List(r.Context(), api.KindNode, "", sel)
	if err != nil {
		writeError(w, err)
		return
	}
	known := make(map[string]*api.Node, len(nodes))
	for _, o := range nodes {
		known[o.GetObjectMeta().Name] = o.(*api.Node)
	}
	items := []api.NodeMetrics{}
	for _, m := range all {
		n := known[m.Name]
		if n == nil || (name != "" && !strings.EqualFold(m.Name, name)) {
			continue
		}
		m.Labels = n.Labels
		m.CreationTimestamp = m.Timestamp
		items = append(items, m)
	}
	if name != "" {
		if len(items) == 0 {
			writeError(w, api.NewNotFound(nodeMetricsKind, name))
			return
		}
		writeJSON(w, http.StatusOK, items[0])
		return
	}
	writeJSON(w, http.StatusOK, api.NodeMetricsList{TypeMeta: api.TypeMeta{Kind: "NodeMetricsList", APIVersion: api.MetricsGroupVersion},
		Items: items})
}
