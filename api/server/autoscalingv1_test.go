package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"

	"github.com/shoal-dev/shoal/api"
)

// kubectl before v1.33 creates autoscalers in autoscaling/v1: they are
// stored as v2 and read back in either version; a v1 replace keeps the
// v2 fields v1 cannot say.
func TestHorizontalPodAutoscalerServedInV1(t *testing.T) {
	ts, objs := newServer(t)
	ctx := context.Background()
	coll := ts.URL + "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
	resp, b := do(t, "POST", coll, "application/json", `{"apiVersion":"autoscaling/v1","kind":"HorizontalPodAutoscaler",
		"metadata":{"name":"web"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1","kind":"Deployment","name":"web"},
		"minReplicas":1,"maxReplicas":5,"targetCPUUtilizationPercentage":50}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	var v1 autoscalingv1.HorizontalPodAutoscaler
	if err := json.Unmarshal(b, &v1); err != nil || v1.APIVersion != "autoscaling/v1" || *v1.Spec.TargetCPUUtilizationPercentage != 50 {
		t.Fatalf("created answer: %v %s", err, b)
	}
	o, err := objs.Get(ctx, api.KindHPA, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	hpa := o.(*api.HorizontalPodAutoscaler)
	if len(hpa.Spec.Metrics) != 1 || !strings.Contains(api.MetricTargetString(hpa.Spec.Metrics[0], nil), "cpu: <unknown>/50%") {
		t.Fatalf("stored metrics %+v", hpa.Spec.Metrics)
	}
	// A v2 client adds a memory metric and a behavior.
	hpa.Spec.Metrics = append(hpa.Spec.Metrics, api.MetricSpec{Type: api.MetricSourceResource, Resource: &api.ResourceMetricSource{
		Name: api.ResourceMemory, Target: api.MetricTarget{Type: api.MetricTargetUtilization, AverageUtilization: api.Int32(70)}}})
	hpa.Spec.Behavior = &api.HorizontalPodAutoscalerBehavior{ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: api.Int32(10)}}
	if _, err := objs.Update(ctx, hpa); err != nil {
		t.Fatal(err)
	}
	resp, b = do(t, "GET", coll+"/web", "", "")
	if err := json.Unmarshal(b, &v1); resp.StatusCode != 200 || err != nil {
		t.Fatalf("get: %d %s", resp.StatusCode, b)
	}
	v1.Spec.TargetCPUUtilizationPercentage = api.Int32(60)
	body, _ := json.Marshal(v1)
	if resp, b = do(t, "PUT", coll+"/web", "application/json", string(body)); resp.StatusCode != 200 {
		t.Fatalf("replace: %d %s", resp.StatusCode, b)
	}
	o, _ = objs.Get(ctx, api.KindHPA, "default", "web")
	hpa = o.(*api.HorizontalPodAutoscaler)
	if len(hpa.Spec.Metrics) != 2 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 60 || hpa.Spec.Behavior == nil {
		t.Fatalf("after a v1 replace: %+v (the memory metric and the behavior must stay)", hpa.Spec)
	}
	var list autoscalingv1.HorizontalPodAutoscalerList
	resp, b = do(t, "GET", ts.URL+"/apis/autoscaling/v1/horizontalpodautoscalers", "", "")
	if err := json.Unmarshal(b, &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("list: %d %s", resp.StatusCode, b)
	}
	// A bad v1 object is refused naming the field, as in v2.
	resp, b = do(t, "POST", coll, "application/json", `{"metadata":{"name":"bad"},"spec":{"scaleTargetRef":{"kind":"Pod","name":"x"},"maxReplicas":0}}`)
	if resp.StatusCode != 422 || !strings.Contains(string(b), "spec.maxReplicas") || !strings.Contains(string(b), "spec.scaleTargetRef.kind") {
		t.Fatalf("bad create: %d %s", resp.StatusCode, b)
	}
	if resp, b = do(t, "DELETE", coll+"/web", "", ""); resp.StatusCode != 200 {
		t.Fatalf("delete: %d %s", resp.StatusCode, b)
	}
	if _, err := objs.Get(ctx, api.KindHPA, "default", "web"); !api.IsNotFound(err) {
		t.Fatalf("after delete: %v", err)
	}
}
