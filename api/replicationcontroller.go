package api

// ReplicationController is the older form of ReplicaSet (core/v1): the same
// controller keeps its replicas, but its selector is a plain map of labels
// and it has no place in Deployments.
type ReplicationController struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       ReplicationControllerSpec   `json:"spec,omitzero"`
	Status     ReplicationControllerStatus `json:"status,omitzero"`
}

// ReplicationControllerSpec is the desired state of a ReplicationController.
// An empty selector defaults to the template's labels, as in Kubernetes.
type ReplicationControllerSpec struct {
	Replicas        *int32            `json:"replicas,omitempty"`
	MinReadySeconds int32             `json:"minReadySeconds,omitempty"`
	Selector        map[string]string `json:"selector,omitempty"`
	Template        *PodTemplateSpec  `json:"template,omitempty"`
}

// ReplicationControllerStatus is written by the controller; it has the
// fields of a ReplicaSet's status.
type ReplicationControllerStatus struct {
	Replicas             int32       `json:"replicas"`
	FullyLabeledReplicas int32       `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32       `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32       `json:"availableReplicas,omitempty"`
	ObservedGeneration   int64       `json:"observedGeneration,omitempty"`
	Conditions           []Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// LabelSelector returns the selector as a LabelSelector, nil when empty.
func (s *ReplicationControllerSpec) LabelSelector() *LabelSelector {
	if len(s.Selector) == 0 {
		return nil
	}
	return &LabelSelector{MatchLabels: s.Selector}
}

func defaultReplicationController(rc *ReplicationController) {
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = Int32(1)
	}
	if rc.Spec.Template == nil {
		return
	}
	DefaultPodSpec(&rc.Spec.Template.Spec)
	if len(rc.Spec.Selector) == 0 && len(rc.Spec.Template.Labels) > 0 {
		rc.Spec.Selector = copyLabels(rc.Spec.Template.Labels)
	}
	if len(rc.Labels) == 0 && len(rc.Spec.Template.Labels) > 0 {
		rc.Labels = copyLabels(rc.Spec.Template.Labels)
	}
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// validateReplicationController checks what validateWorkload checks, with
// the selector a plain map at spec.selector.
func validateReplicationController(e *errs, rc *ReplicationController) {
	if rc.Spec.Replicas != nil && *rc.Spec.Replicas < 0 {
		e.invalid("spec.replicas", *rc.Spec.Replicas, "must be greater than or equal to 0")
	}
	if rc.Spec.MinReadySeconds < 0 {
		e.invalid("spec.minReadySeconds", rc.Spec.MinReadySeconds, "must be greater than or equal to 0")
	}
	if len(rc.Spec.Selector) == 0 {
		// Defaulting fills it from the template's labels: both are empty.
		e.required("spec.selector", "give spec.selector, or labels in spec.template.metadata.labels for it to default to")
	} else {
		validateLabels(e, "spec.selector", rc.Spec.Selector)
	}
	t := rc.Spec.Template
	if t == nil {
		e.required("spec.template", "a ReplicationController makes its pods from spec.template")
		return
	}
	tp := path("spec.template")
	validateLabels(e, tp.child("metadata.labels"), t.Labels)
	if len(rc.Spec.Selector) > 0 && !SelectorFromSet(rc.Spec.Selector).Matches(t.Labels) {
		e.invalid(tp.child("metadata.labels"), t.Labels, "`selector` does not match template `labels`")
	}
	validatePodSpec(e, &t.Spec, tp.child("spec"))
	if t.Spec.RestartPolicy != RestartAlways {
		e.notSupported(tp.child("spec.restartPolicy"), t.Spec.RestartPolicy, RestartAlways)
	}
}
