package api

import "testing"

func TestHorizontalPodAutoscalerValidation(t *testing.T) {
	valid := func() *HorizontalPodAutoscaler {
		h := &HorizontalPodAutoscaler{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
			Spec: HorizontalPodAutoscalerSpec{ScaleTargetRef: CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
				MaxReplicas: 5}}
		Default(h)
		return h
	}
	h := valid()
	if err := Validate(h); err != nil {
		t.Fatalf("valid autoscaler refused: %v", err)
	}
	if *h.Spec.MinReplicas != 1 || len(h.Spec.Metrics) != 1 || *h.Spec.Metrics[0].Resource.Target.AverageUtilization != DefaultHPACPUUtilization {
		t.Fatalf("defaults: %+v", h.Spec)
	}
	cases := []struct {
		name   string
		mutate func(*HorizontalPodAutoscaler)
		field  string
	}{
		{"a Pod target", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "Pod" }, "spec.scaleTargetRef.kind"},
		{"no target name", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }, "spec.scaleTargetRef.name"},
		{"max below min", func(h *HorizontalPodAutoscaler) { h.Spec.MinReplicas = Int32(3); h.Spec.MaxReplicas = 2 }, "spec.maxReplicas"},
		{"min zero", func(h *HorizontalPodAutoscaler) { h.Spec.MinReplicas = Int32(0) }, "spec.minReplicas"},
		{"an external metric", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0] = MetricSpec{Type: MetricSourceExternal} }, "spec.metrics[0].type"},
		{"a resource shoal does not measure", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Name = "gpu" }, "spec.metrics[0].resource.name"},
		{"a utilization without a percentage", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Target.AverageUtilization = nil }, "spec.metrics[0].resource.target.averageUtilization"},
		{"a container metric without its container", func(h *HorizontalPodAutoscaler) {
			h.Spec.Metrics[0] = MetricSpec{Type: MetricSourceContainerResource, ContainerResource: &ContainerResourceMetricSource{Name: ResourceCPU,
				Target: MetricTarget{Type: MetricTargetUtilization, AverageUtilization: Int32(50)}}}
		}, "spec.metrics[0].containerResource.container"},
		{"a window over an hour", func(h *HorizontalPodAutoscaler) {
			h.Spec.Behavior = &HorizontalPodAutoscalerBehavior{ScaleDown: &HPAScalingRules{StabilizationWindowSeconds: Int32(3601)}}
		}, "spec.behavior.scaleDown.stabilizationWindowSeconds"},
		{"a bad policy", func(h *HorizontalPodAutoscaler) {
			h.Spec.Behavior = &HorizontalPodAutoscalerBehavior{ScaleUp: &HPAScalingRules{Policies: []HPAScalingPolicy{{Type: "Nodes", Value: 1, PeriodSeconds: 15}}}}
		}, "spec.behavior.scaleUp.policies[0].type"},
	}
	for _, c := range cases {
		h := valid()
		c.mutate(h)
		found := false
		for _, f := range fieldsOf(Validate(h)) {
			found = found || f == c.field
		}
		if !found {
			t.Errorf("%s: %v does not name %s", c.name, Validate(h), c.field)
		}
	}
}
