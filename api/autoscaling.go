package api

import (
	"fmt"
	"strings"
)

// HorizontalPodAutoscaler scales a Deployment, ReplicaSet or StatefulSet
// by the CPU and memory its pods use against what they request, as
// Kubernetes' autoscaling/v2 HorizontalPodAutoscaler. shoal measures
// resource metrics only (metrics.k8s.io): Pods, Object and External
// metrics are refused when the object is written.
type HorizontalPodAutoscaler struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       HorizontalPodAutoscalerSpec   `json:"spec,omitzero"`
	Status     HorizontalPodAutoscalerStatus `json:"status,omitzero"`
}

// HorizontalPodAutoscalerSpec says what to scale, between which bounds and
// on which metrics.
type HorizontalPodAutoscalerSpec struct {
	ScaleTargetRef CrossVersionObjectReference      `json:"scaleTargetRef"`
	MinReplicas    *int32                           `json:"minReplicas,omitempty"`
	MaxReplicas    int32                            `json:"maxReplicas"`
	Metrics        []MetricSpec                     `json:"metrics,omitempty"`
	Behavior       *HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// CrossVersionObjectReference names the workload an autoscaler scales.
type CrossVersionObjectReference struct {
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// MetricSpec is one metric to scale on. Only Resource and
// ContainerResource are measured by shoal; the other sources are kept in
// the type so that Kubernetes' objects decode and are refused by name.
type MetricSpec struct {
	Type              string                         `json:"type"`
	Object            map[string]any                 `json:"object,omitempty"`
	Pods              map[string]any                 `json:"pods,omitempty"`
	Resource          *ResourceMetricSource          `json:"resource,omitempty"`
	ContainerResource *ContainerResourceMetricSource `json:"containerResource,omitempty"`
	External          map[string]any                 `json:"external,omitempty"`
}

// ResourceMetricSource is a resource (cpu, memory) of the pods, summed
// over their containers.
type ResourceMetricSource struct {
	Name   string       `json:"name"`
	Target MetricTarget `json:"target"`
}

// ContainerResourceMetricSource is a resource of one named container of
// the pods.
type ContainerResourceMetricSource struct {
	Name      string       `json:"name"`
	Target    MetricTarget `json:"target"`
	Container string       `json:"container"`
}

// MetricTarget is the value to keep a metric at: an average utilization
// (percent of the request) or an average value per pod.
type MetricTarget struct {
	Type               string    `json:"type"`
	Value              *Quantity `json:"value,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
}

// HorizontalPodAutoscalerBehavior tunes scaling up and down.
type HorizontalPodAutoscalerBehavior struct {
	ScaleUp   *HPAScalingRules `json:"scaleUp,omitempty"`
	ScaleDown *HPAScalingRules `json:"scaleDown,omitempty"`
}

// HPAScalingRules are the stabilization window and rate limits of one
// direction.
type HPAScalingRules struct {
	StabilizationWindowSeconds *int32             `json:"stabilizationWindowSeconds,omitempty"`
	SelectPolicy               *string            `json:"selectPolicy,omitempty"`
	Policies                   []HPAScalingPolicy `json:"policies,omitempty"`
	Tolerance                  *Quantity          `json:"tolerance,omitempty"`
}

// HPAScalingPolicy allows a change of Value pods (or percent) per
// PeriodSeconds.
type HPAScalingPolicy struct {
	Type          string `json:"type"`
	Value         int32  `json:"value"`
	PeriodSeconds int32  `json:"periodSeconds"`
}

// HorizontalPodAutoscalerStatus is written by the autoscaler controller.
type HorizontalPodAutoscalerStatus struct {
	ObservedGeneration *int64         `json:"observedGeneration,omitempty"`
	LastScaleTime      *Time          `json:"lastScaleTime,omitempty"`
	CurrentReplicas    int32          `json:"currentReplicas,omitempty"`
	DesiredReplicas    int32          `json:"desiredReplicas"`
	CurrentMetrics     []MetricStatus `json:"currentMetrics"`
	Conditions         []Condition    `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// MetricStatus is the last measured value of one metric.
type MetricStatus struct {
	Type              string                         `json:"type"`
	Resource          *ResourceMetricStatus          `json:"resource,omitempty"`
	ContainerResource *ContainerResourceMetricStatus `json:"containerResource,omitempty"`
}

// ResourceMetricStatus is the current value of a resource metric.
type ResourceMetricStatus struct {
	Name    string            `json:"name"`
	Current MetricValueStatus `json:"current"`
}

// ContainerResourceMetricStatus is the current value of a container
// resource metric.
type ContainerResourceMetricStatus struct {
	Name      string            `json:"name"`
	Current   MetricValueStatus `json:"current"`
	Container string            `json:"container"`
}

// MetricValueStatus is a measured value.
type MetricValueStatus struct {
	Value              *Quantity `json:"value,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
}

// Metric source and target types, scaling policies and the autoscaler's
// conditions, as Kubernetes names them.
const (
	MetricSourceResource          = "Resource"
	MetricSourceContainerResource = "ContainerResource"
	MetricSourcePods              = "Pods"
	MetricSourceObject            = "Object"
	MetricSourceExternal          = "External"

	MetricTargetUtilization  = "Utilization"
	MetricTargetAverageValue = "AverageValue"
	MetricTargetValue        = "Value"

	ScalingPolicyPods    = "Pods"
	ScalingPolicyPercent = "Percent"
	SelectPolicyMax      = "Max"
	SelectPolicyMin      = "Min"
	SelectPolicyDisabled = "Disabled"

	ConditionAbleToScale    = "AbleToScale"
	ConditionScalingActive  = "ScalingActive"
	ConditionScalingLimited = "ScalingLimited"

	// MaxStabilizationWindowSeconds is Kubernetes' bound (one hour).
	MaxStabilizationWindowSeconds = 3600
	// DefaultHPACPUUtilization is the target of an autoscaler without
	// metrics, as Kubernetes defaults it.
	DefaultHPACPUUtilization = 80
)

// ScalableKinds are the kinds an autoscaler may scale: those with a scale
// subresource.
var ScalableKinds = []string{"Deployment", "ReplicaSet", "StatefulSet"}

func defaultHorizontalPodAutoscaler(h *HorizontalPodAutoscaler) {
	if h.Spec.MinReplicas == nil {
		h.Spec.MinReplicas = Int32(1)
	}
	if len(h.Spec.Metrics) == 0 {
		h.Spec.Metrics = []MetricSpec{{Type: MetricSourceResource, Resource: &ResourceMetricSource{Name: ResourceCPU,
			Target: MetricTarget{Type: MetricTargetUtilization, AverageUtilization: Int32(DefaultHPACPUUtilization)}}}}
	}
}

func validateHorizontalPodAutoscaler(e *errs, h *HorizontalPodAutoscaler) {
	p := path("spec")
	s := &h.Spec
	ref := p.child("scaleTargetRef")
	if s.ScaleTargetRef.Name == "" {
		e.required(ref.child("name"), "name the workload to scale")
	}
	if !contains(ScalableKinds, s.ScaleTargetRef.Kind) {
		e.notSupported(ref.child("kind"), s.ScaleTargetRef.Kind, ScalableKinds...)
	}
	if v := s.ScaleTargetRef.APIVersion; v != "" && v != "apps/v1" {
		e.notSupported(ref.child("apiVersion"), v, "apps/v1")
	}
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		e.invalid(p.child("minReplicas"), *s.MinReplicas, "must be greater than or equal to 1")
	}
	if s.MaxReplicas < 1 {
		e.invalid(p.child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to 1")
	} else if s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas {
		e.invalid(p.child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to minReplicas")
	}
	for i := range s.Metrics {
		validateMetricSpec(e, p.child("metrics").index(i), &s.Metrics[i])
	}
	if b := s.Behavior; b != nil {
		validateScalingRules(e, p.child("behavior").child("scaleUp"), b.ScaleUp)
		validateScalingRules(e, p.child("behavior").child("scaleDown"), b.ScaleDown)
	}
}

func validateMetricSpec(e *errs, p path, m *MetricSpec) {
	var name string
	var target *MetricTarget
	switch m.Type {
	case MetricSourceResource:
		if m.Resource == nil {
			e.required(p.child("resource"), "a Resource metric gives resource.name and resource.target")
			return
		}
		name, target, p = m.Resource.Name, &m.Resource.Target, p.child("resource")
	case MetricSourceContainerResource:
		if m.ContainerResource == nil {
			e.required(p.child("containerResource"), "a ContainerResource metric gives containerResource.name, container and target")
			return
		}
		p = p.child("containerResource")
		if m.ContainerResource.Container == "" {
			e.required(p.child("container"), "name the container whose usage counts")
		}
		name, target = m.ContainerResource.Name, &m.ContainerResource.Target
	case MetricSourcePods, MetricSourceObject, MetricSourceExternal:
		e.invalid(p.child("type"), m.Type, "shoal measures the resource metrics of metrics.k8s.io only (cpu, memory): use type Resource or ContainerResource")
		return
	default:
		e.notSupported(p.child("type"), m.Type, MetricSourceResource, MetricSourceContainerResource)
		return
	}
	if name != ResourceCPU && name != ResourceMemory {
		e.notSupported(p.child("name"), name, ResourceCPU, ResourceMemory)
	}
	tp := p.child("target")
	switch target.Type {
	case MetricTargetUtilization:
		if target.AverageUtilization == nil {
			e.required(tp.child("averageUtilization"), "a Utilization target gives averageUtilization, a percentage of the pods' requests")
		} else if *target.AverageUtilization < 1 {
			e.invalid(tp.child("averageUtilization"), *target.AverageUtilization, "must be greater than 0")
		}
	case MetricTargetAverageValue:
		if target.AverageValue == nil {
			e.required(tp.child("averageValue"), "an AverageValue target gives averageValue, a quantity per pod such as 200m or 64Mi")
		} else if target.AverageValue.IsZero() {
			e.invalid(tp.child("averageValue"), target.AverageValue.String(), "must be positive")
		}
	default:
		e.notSupported(tp.child("type"), target.Type, MetricTargetUtilization, MetricTargetAverageValue)
	}
}

func validateScalingRules(e *errs, p path, r *HPAScalingRules) {
	if r == nil {
		return
	}
	if w := r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > MaxStabilizationWindowSeconds) {
		e.invalid(p.child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be between 0 and %d", MaxStabilizationWindowSeconds))
	}
	if s := r.SelectPolicy; s != nil && *s != SelectPolicyMax && *s != SelectPolicyMin && *s != SelectPolicyDisabled {
		e.notSupported(p.child("selectPolicy"), *s, SelectPolicyMax, SelectPolicyMin, SelectPolicyDisabled)
	}
	for i, pol := range r.Policies {
		pp := p.child("policies").index(i)
		if pol.Type != ScalingPolicyPods && pol.Type != ScalingPolicyPercent {
			e.notSupported(pp.child("type"), pol.Type, ScalingPolicyPods, ScalingPolicyPercent)
		}
		if pol.Value <= 0 {
			e.invalid(pp.child("value"), pol.Value, "must be greater than 0")
		}
		if pol.PeriodSeconds <= 0 || pol.PeriodSeconds > 1800 {
			e.invalid(pp.child("periodSeconds"), pol.PeriodSeconds, "must be between 1 and 1800")
		}
	}
}

// MetricTargetString is a metric's current and target values as kubectl
// prints them in the TARGETS column ("cpu: 12%/50%").
func MetricTargetString(spec MetricSpec, status *MetricStatus) string {
	var name string
	var target MetricTarget
	var current *MetricValueStatus
	switch {
	case spec.Resource != nil:
		name, target = spec.Resource.Name, spec.Resource.Target
		if status != nil && status.Resource != nil {
			current = &status.Resource.Current
		}
	case spec.ContainerResource != nil:
		name, target = spec.ContainerResource.Name, spec.ContainerResource.Target
		if status != nil && status.ContainerResource != nil {
			current = &status.ContainerResource.Current
		}
	default:
		return "<unknown>/<unknown>"
	}
	cur := "<unknown>"
	switch {
	case target.AverageUtilization != nil:
		if current != nil && current.AverageUtilization != nil {
			cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
		}
		return fmt.Sprintf("%s: %s/%d%%", name, cur, *target.AverageUtilization)
	case target.AverageValue != nil:
		if current != nil && current.AverageValue != nil {
			cur = current.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name, cur, target.AverageValue.String())
	}
	return strings.TrimSpace(name + ": <unknown>/<unknown>")
}
