package api

// PodDisruptionBudget limits how many pods of a set voluntary disruptions
// (evictions: `kubectl drain`, `shoal drain`) may take down at once, as
// Kubernetes' policy/v1 PodDisruptionBudget.
type PodDisruptionBudget struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PodDisruptionBudgetSpec   `json:"spec,omitzero"`
	Status     PodDisruptionBudgetStatus `json:"status,omitzero"`
}

// PodDisruptionBudgetSpec says which pods and how many must stay up.
type PodDisruptionBudgetSpec struct {
	MinAvailable               *IntOrString   `json:"minAvailable,omitempty"`
	MaxUnavailable             *IntOrString   `json:"maxUnavailable,omitempty"`
	Selector                   *LabelSelector `json:"selector,omitempty"`
	UnhealthyPodEvictionPolicy *string        `json:"unhealthyPodEvictionPolicy,omitempty"`
}

// PodDisruptionBudgetStatus is written by the disruption controller and,
// for each eviction it allows, by the eviction itself.
type PodDisruptionBudgetStatus struct {
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// DisruptedPods are the pods evicted and not yet seen gone, with the
	// time of their eviction: the controller does not count them healthy.
	DisruptedPods      map[string]Time `json:"disruptedPods,omitempty"`
	DisruptionsAllowed int32           `json:"disruptionsAllowed"`
	CurrentHealthy     int32           `json:"currentHealthy"`
	DesiredHealthy     int32           `json:"desiredHealthy"`
	ExpectedPods       int32           `json:"expectedPods"`
	Conditions         []Condition     `json:"conditions,omitempty"`
}

// Eviction asks to delete a pod within its disruption budgets (the
// pods/eviction subresource).
type Eviction struct {
	TypeMeta      `json:",inline"`
	ObjectMeta    `json:"metadata,omitzero"`
	DeleteOptions *EvictionDeleteOptions `json:"deleteOptions,omitempty"`
}

// EvictionDeleteOptions are the delete options an eviction may carry.
type EvictionDeleteOptions struct {
	GracePeriodSeconds *int64         `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *Preconditions `json:"preconditions,omitempty"`
	DryRun             []string       `json:"dryRun,omitempty"`
}

// Preconditions name the object a delete is for.
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// Disruption condition and policies, as Kubernetes names them.
const (
	ConditionDisruptionAllowed = "DisruptionAllowed"
	ReasonSufficientPods       = "SufficientPods"
	ReasonInsufficientPods     = "InsufficientPods"

	UnhealthyPodIfHealthyBudget = "IfHealthyBudget"
	UnhealthyPodAlwaysAllow     = "AlwaysAllow"
)

func validatePodDisruptionBudget(e *errs, pdb *PodDisruptionBudget) {
	p := path("spec")
	s := &pdb.Spec
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		e.invalid(p, "minAvailable and maxUnavailable", "give minAvailable or maxUnavailable, not both")
	}
	for _, f := range []struct {
		name string
		v    *IntOrString
	}{{"minAvailable", s.MinAvailable}, {"maxUnavailable", s.MaxUnavailable}} {
		if f.v == nil {
			continue
		}
		if f.v.IsString {
			if _, err := f.v.ScaledValue(100, true); err != nil {
				e.invalid(p.child(f.name), f.v.String(), "must be a whole number or a percentage such as 50%")
			} else if v, _ := f.v.ScaledValue(100, true); v > 100 {
				e.invalid(p.child(f.name), f.v.String(), "must not be more than 100%")
			}
		} else if f.v.IntVal < 0 {
			e.invalid(p.child(f.name), f.v.IntVal, "must be greater than or equal to 0")
		}
	}
	if s.Selector != nil {
		validateSelector(e, p.child("selector"), s.Selector)
	}
	if u := s.UnhealthyPodEvictionPolicy; u != nil && *u != UnhealthyPodIfHealthyBudget && *u != UnhealthyPodAlwaysAllow {
		e.notSupported(p.child("unhealthyPodEvictionPolicy"), *u, UnhealthyPodIfHealthyBudget, UnhealthyPodAlwaysAllow)
	}
}

// BudgetSelects reports whether a budget covers a pod: in policy/v1 a
// missing selector selects no pod and an empty one every pod of the
// namespace.
func BudgetSelects(pdb *PodDisruptionBudget, pod *Pod) bool {
	if pdb.Spec.Selector == nil || pod.Namespace != pdb.Namespace {
		return false
	}
	sel, err := pdb.Spec.Selector.AsSelector()
	return err == nil && sel.Matches(pod.Labels)
}
