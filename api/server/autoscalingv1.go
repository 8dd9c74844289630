package server

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/openapi"
)

// HorizontalPodAutoscalers are stored as autoscaling/v2, the preferred
// version. autoscaling/v1 is served beside it for the clients that still
// write it (kubectl before v1.33 creates its autoscalers in v1): create,
// get, list, replace and delete, converted as Kubernetes converts them.
// v1 carries a CPU utilization target only; a v1 replace keeps the v2
// fields it cannot express (other metrics, behavior) as they are.

const hpaV1Prefix = "/apis/autoscaling/v1"

var hpaV1Resource = openapi.Resource{Group: "autoscaling", Version: "v1", Resource: "horizontalpodautoscalers",
	Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"}, Kind: "HorizontalPodAutoscaler", Namespaced: true,
	Verbs: []string{api.VerbCreate, api.VerbDelete, api.VerbGet, api.VerbList, api.VerbUpdate}, Object: &autoscalingv1.HorizontalPodAutoscaler{}}

func (s *Server) hpaV1Routes() {
	r := s.router
	coll := hpaV1Prefix + "/namespaces/{namespace}/horizontalpodautoscalers"
	r.HandleFunc(hpaV1Prefix+"/horizontalpodautoscalers", s.hpaV1List).Methods(http.MethodGet)
	r.HandleFunc(coll, s.hpaV1List).Methods(http.MethodGet)
	r.HandleFunc(coll, s.hpaV1Create).Methods(http.MethodPost)
	r.HandleFunc(coll+"/{name}", s.hpaV1Get).Methods(http.MethodGet)
	r.HandleFunc(coll+"/{name}", s.hpaV1Replace).Methods(http.MethodPut)
	r.HandleFunc(coll+"/{name}", s.hpaV1Delete).Methods(http.MethodDelete)
}

// hpaFromV1 converts a v1 autoscaler to the stored form; base, when given,
// is the stored object whose v2-only fields a replace keeps.
func hpaFromV1(in *autoscalingv1.HorizontalPodAutoscaler, base *api.HorizontalPodAutoscaler) (*api.HorizontalPodAutoscaler, error) {
	out := &api.HorizontalPodAutoscaler{}
	if base != nil {
		out.Spec = base.Spec
		out.Status = base.Status
	}
	out.TypeMeta = api.TypeMeta{Kind: api.KindHPA.Kind, APIVersion: api.KindHPA.APIVersion()}
	b, err := json.Marshal(in.ObjectMeta)
	if err == nil {
		err = json.Unmarshal(b, &out.ObjectMeta)
	}
	if err != nil {
		return nil, api.NewBadRequest("metadata: " + err.Error())
	}
	out.Spec.ScaleTargetRef = api.CrossVersionObjectReference{Kind: in.Spec.ScaleTargetRef.Kind, Name: in.Spec.ScaleTargetRef.Name,
		APIVersion: in.Spec.ScaleTargetRef.APIVersion}
	out.Spec.MinReplicas, out.Spec.MaxReplicas = in.Spec.MinReplicas, in.Spec.MaxReplicas
	var kept []api.MetricSpec
	for _, m := range out.Spec.Metrics {
		if !isCPUUtilization(m) {
			kept = append(kept, m)
		}
	}
	if p := in.Spec.TargetCPUUtilizationPercentage; p != nil {
		kept = append([]api.MetricSpec{{Type: api.MetricSourceResource, Resource: &api.ResourceMetricSource{Name: api.ResourceCPU,
			Target: api.MetricTarget{Type: api.MetricTargetUtilization, AverageUtilization: p}}}}, kept...)
	}
	out.Spec.Metrics = kept
	return out, nil
}

func isCPUUtilization(m api.MetricSpec) bool {
	return m.Type == api.MetricSourceResource && m.Resource != nil && m.Resource.Name == api.ResourceCPU &&
		m.Resource.Target.Type == api.MetricTargetUtilization
}

// hpaToV1 converts a stored autoscaler to v1.
func hpaToV1(in *api.HorizontalPodAutoscaler) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	out := &autoscalingv1.HorizontalPodAutoscaler{TypeMeta: metav1.TypeMeta{Kind: "HorizontalPodAutoscaler", APIVersion: "autoscaling/v1"}}
	b, err := json.Marshal(in.ObjectMeta)
	if err == nil {
		err = json.Unmarshal(b, &out.ObjectMeta)
	}
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", in.Name, err)
	}
	ref := in.Spec.ScaleTargetRef
	out.Spec = autoscalingv1.HorizontalPodAutoscalerSpec{MinReplicas: in.Spec.MinReplicas, MaxReplicas: in.Spec.MaxReplicas,
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: ref.Kind, Name: ref.Name, APIVersion: ref.APIVersion}}
	for _, m := range in.Spec.Metrics {
		if isCPUUtilization(m) {
			out.Spec.TargetCPUUtilizationPercentage = m.Resource.Target.AverageUtilization
		}
	}
	st := in.Status
	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{ObservedGeneration: st.ObservedGeneration,
		CurrentReplicas: st.CurrentReplicas, DesiredReplicas: st.DesiredReplicas}
	if st.LastScaleTime != nil {
		t := metav1.NewTime(st.LastScaleTime.Time)
		out.Status.LastScaleTime = &t
	}
	for _, m := range st.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == api.ResourceCPU {
			out.Status.CurrentCPUUtilizationPercentage = m.Resource.Current.AverageUtilization
		}
	}
	return out, nil
}

// readHPAV1 reads a v1 body.
func (s *Server) readHPAV1(w http.ResponseWriter, r *http.Request) (*autoscalingv1.HorizontalPodAutoscaler, error) {
	body, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	var in autoscalingv1.HorizontalPodAutoscaler
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, api.NewBadRequest("the body is not an autoscaling/v1 HorizontalPodAutoscaler: " + err.Error())
	}
	if in.Kind != "" && in.Kind != "HorizontalPodAutoscaler" || in.APIVersion != "" && in.APIVersion != "autoscaling/v1" {
		return nil, api.NewBadRequest(fmt.Sprintf("the body is a %s %s, but this path serves autoscaling/v1 HorizontalPodAutoscaler", in.APIVersion, in.Kind))
	}
	return &in, nil
}

func (s *Server) writeHPAV1(w http.ResponseWriter, code int, obj api.Object) {
	out, err := hpaToV1(obj.(*api.HorizontalPodAutoscaler))
	if err != nil {
		writeError(w, api.NewInternal(err))
		return
	}
	writeJSON(w, code, out)
}

func (s *Server) hpaV1Create(w http.ResponseWriter, r *http.Request) {
	ns := mux.Vars(r)["namespace"]
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	in, err := s.readHPAV1(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := hpaFromV1(in, nil)
	if err == nil && obj.Namespace != "" && obj.Namespace != ns {
		err = api.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace of the URL (%s)", obj.Namespace, ns))
	}
	if err != nil {
		writeError(w, err)
		return
	}
	obj.Namespace = ns
	if err := s.admitWrite(r, obj); err != nil {
		writeError(w, err)
		return
	}
	created, err := s.cfg.Store.Create(r.Context(), obj)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeHPAV1(w, http.StatusCreated, created)
}

func (s *Server) hpaV1Get(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	obj, err := s.cfg.Store.Get(r.Context(), api.KindHPA, v["namespace"], v["name"])
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeHPAV1(w, http.StatusOK, obj)
}

func (s *Server) hpaV1List(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if isTrue(q.Get("watch")) {
		writeError(w, api.NewStatusError(http.StatusMethodNotAllowed, api.ReasonMethodNotAllow,
			"watch HorizontalPodAutoscalers in autoscaling/v2, the version they are stored in"))
		return
	}
	var sel api.Selector
	if l := q.Get("labelSelector"); l != "" {
		var err error
		if sel, err = api.ParseSelector(l); err != nil {
			writeError(w, api.NewBadRequest("labelSelector: "+err.Error()))
			return
		}
	}
	objs, rv, err := s.cfg.Store.List(r.Context(), api.KindHPA, mux.Vars(r)["namespace"], sel)
	if err != nil {
		writeError(w, err)
		return
	}
	list := autoscalingv1.HorizontalPodAutoscalerList{TypeMeta: metav1.TypeMeta{Kind: "HorizontalPodAutoscalerList", APIVersion: "autoscaling/v1"},
		ListMeta: metav1.ListMeta{ResourceVersion: rv}, Items: []autoscalingv1.HorizontalPodAutoscaler{}}
	for _, o := range objs {
		out, err := hpaToV1(o.(*api.HorizontalPodAutoscaler))
		if err != nil {
			writeError(w, api.NewInternal(err))
			return
		}
		list.Items = append(list.Items, *out)
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) hpaV1Replace(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	in, err := s.readHPAV1(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if in.Name != v["name"] {
		writeError(w, api.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the URL (%s)", in.Name, v["name"])))
		return
	}
	cur, err := s.cfg.Store.Get(r.Context(), api.KindHPA, v["namespace"], v["name"])
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := hpaFromV1(in, cur.(*api.HorizontalPodAutoscaler))
	if err != nil {
		writeError(w, err)
		return
	}
	obj.Namespace = v["namespace"]
	if err := s.admitWrite(r, obj); err != nil {
		writeError(w, err)
		return
	}
	updated, err := s.cfg.Store.Update(r.Context(), obj)
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeHPAV1(w, http.StatusOK, updated)
}

func (s *Server) hpaV1Delete(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	r, err := dryRun(r)
	if err != nil {
		writeError(w, err)
		return
	}
	obj, err := s.cfg.Store.Delete(r.Context(), api.KindHPA, v["namespace"], v["name"], api.DeleteOptions{})
	if err != nil {
		writeError(w, err)
		return
	}
	s.writeHPAV1(w, http.StatusOK, obj)
}
