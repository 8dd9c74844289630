package api

import (
	"fmt"
	"strconv"
)

// StatefulSet runs pods with stable names, stable DNS names and their own
// claims, as Kubernetes' apps/v1 StatefulSet.
type StatefulSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       StatefulSetSpec   `json:"spec,omitzero"`
	Status     StatefulSetStatus `json:"status,omitzero"`
}

// StatefulSetSpec is the desired state of a StatefulSet.
type StatefulSetSpec struct {
	Replicas *int32          `json:"replicas,omitempty"`
	Selector *LabelSelector  `json:"selector"`
	Template PodTemplateSpec `json:"template,omitzero"`
	// VolumeClaimTemplates make one claim per pod, named
	// <template>-<statefulset>-<ordinal>, mounted as the template's name.
	VolumeClaimTemplates []PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// ServiceName is the headless Service that gives the pods their DNS
	// names: <pod>.<serviceName>.<namespace>.svc.<domain>.
	ServiceName                          string                                           `json:"serviceName,omitempty"`
	PodManagementPolicy                  string                                           `json:"podManagementPolicy,omitempty"`
	UpdateStrategy                       StatefulSetUpdateStrategy                        `json:"updateStrategy,omitzero"`
	RevisionHistoryLimit                 *int32                                           `json:"revisionHistoryLimit,omitempty"`
	MinReadySeconds                      int32                                            `json:"minReadySeconds,omitempty"`
	PersistentVolumeClaimRetentionPolicy *StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
	Ordinals                             *StatefulSetOrdinals                             `json:"ordinals,omitempty"`
}

// StatefulSetUpdateStrategy says how pods are replaced on a template change.
type StatefulSetUpdateStrategy struct {
	Type          string                            `json:"type,omitempty"`
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

// RollingUpdateStatefulSetStrategy bounds a rolling update: only pods with
// an ordinal at or above Partition are updated.
type RollingUpdateStatefulSetStrategy struct {
	Partition      *int32       `json:"partition,omitempty"`
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
}

// StatefulSetPersistentVolumeClaimRetentionPolicy says whether the claims
// made from the templates are deleted with the StatefulSet (WhenDeleted)
// or with a scale-down that removes their pod (WhenScaled).
type StatefulSetPersistentVolumeClaimRetentionPolicy struct {
	WhenDeleted string `json:"whenDeleted,omitempty"`
	WhenScaled  string `json:"whenScaled,omitempty"`
}

// StatefulSetOrdinals sets the ordinal of the first pod.
type StatefulSetOrdinals struct {
	Start int32 `json:"start"`
}

// StatefulSetStatus is written by the StatefulSet controller. The
// revisions name ControllerRevisions "<name>-<hash of the template>".
type StatefulSetStatus struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Replicas           int32       `json:"replicas"`
	ReadyReplicas      int32       `json:"readyReplicas,omitempty"`
	CurrentReplicas    int32       `json:"currentReplicas,omitempty"`
	UpdatedReplicas    int32       `json:"updatedReplicas,omitempty"`
	AvailableReplicas  int32       `json:"availableReplicas"`
	CurrentRevision    string      `json:"currentRevision,omitempty"`
	UpdateRevision     string      `json:"updateRevision,omitempty"`
	CollisionCount     *int32      `json:"collisionCount,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// StatefulSet policies and the labels of its pods.
const (
	OrderedReadyPodManagement = "OrderedReady"
	ParallelPodManagement     = "Parallel"
	OnDeleteStatefulSetUpdate = "OnDelete"
	RetainClaimPolicy         = "Retain"
	DeleteClaimPolicy         = "Delete"

	LabelStatefulSetPodName = "statefulset.kubernetes.io/pod-name"
	LabelPodIndex           = "apps.kubernetes.io/pod-index"
)

// StatefulSetPodName is the name of the pod with the given ordinal.
func StatefulSetPodName(set string, ordinal int32) string {
	return set + "-" + strconv.Itoa(int(ordinal))
}

// StatefulSetClaimName is the name of a pod's claim made from a template.
func StatefulSetClaimName(template, set string, ordinal int32) string {
	return template + "-" + StatefulSetPodName(set, ordinal)
}

// StartOrdinal is the ordinal of a StatefulSet's first pod.
func (s *StatefulSet) StartOrdinal() int32 {
	if s.Spec.Ordinals != nil {
		return s.Spec.Ordinals.Start
	}
	return 0
}

func defaultStatefulSet(s *StatefulSet) {
	if s.Spec.Replicas == nil {
		s.Spec.Replicas = Int32(1)
	}
	defaultTemplate(&s.Spec.Template, &s.Spec.Selector)
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.Spec.UpdateStrategy.Type == "" {
		s.Spec.UpdateStrategy.Type = RollingUpdateStrategy
	}
	if s.Spec.UpdateStrategy.Type == RollingUpdateStrategy {
		if s.Spec.UpdateStrategy.RollingUpdate == nil {
			s.Spec.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
		if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			s.Spec.UpdateStrategy.RollingUpdate.Partition = Int32(0)
		}
	}
	if s.Spec.RevisionHistoryLimit == nil {
		s.Spec.RevisionHistoryLimit = Int32(10)
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	rp := s.Spec.PersistentVolumeClaimRetentionPolicy
	if rp.WhenDeleted == "" {
		rp.WhenDeleted = RetainClaimPolicy
	}
	if rp.WhenScaled == "" {
		rp.WhenScaled = RetainClaimPolicy
	}
	for i := range s.Spec.VolumeClaimTemplates {
		c := &s.Spec.VolumeClaimTemplates[i]
		if c.Spec.VolumeMode == nil {
			m := VolumeModeFS
			c.Spec.VolumeMode = &m
		}
	}
}

// maxStatefulSetNameLength leaves room for "-<ordinal>" in the pods'
// names, which are also their hostnames (DNS labels of 63 characters), and
// for the controller-revision-hash label "<name>-<hash>".
const maxStatefulSetNameLength = 52

func validateStatefulSet(e *errs, s *StatefulSet) {
	if len(s.Name) > maxStatefulSetNameLength {
		e.invalid("metadata.name", s.Name, fmt.Sprintf("must be no more than %d characters (pod names add -<ordinal>)", maxStatefulSetNameLength))
	}
	p := path("spec")
	// The template's mounts may name a claim template: check the template
	// with those as volumes, as the pods will have them (a template volume
	// of the same name is replaced by the claim, as Kubernetes does).
	t := s.Spec.Template
	claimed := map[string]bool{}
	for _, c := range s.Spec.VolumeClaimTemplates {
		claimed[c.Name] = true
	}
	t.Spec.Volumes = nil
	for _, v := range s.Spec.Template.Spec.Volumes {
		if !claimed[v.Name] {
			t.Spec.Volumes = append(t.Spec.Volumes, v)
		}
	}
	for _, c := range s.Spec.VolumeClaimTemplates {
		t.Spec.Volumes = append(t.Spec.Volumes, Volume{Name: c.Name, PersistentVolumeClaim: &PersistentVolumeClaimSource{ClaimName: c.Name}})
	}
	validateWorkload(e, s.Spec.Replicas, s.Spec.Selector, &t, p)
	if s.Spec.ServiceName != "" {
		for _, msg := range IsDNS1123Label(s.Spec.ServiceName) {
			e.invalid(p.child("serviceName"), s.Spec.ServiceName, "must be the name of a headless Service: "+msg)
		}
	}
	switch s.Spec.PodManagementPolicy {
	case OrderedReadyPodManagement, ParallelPodManagement:
	default:
		e.notSupported(p.child("podManagementPolicy"), s.Spec.PodManagementPolicy, OrderedReadyPodManagement, ParallelPodManagement)
	}
	up := p.child("updateStrategy")
	switch s.Spec.UpdateStrategy.Type {
	case RollingUpdateStrategy:
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			if ru.Partition != nil && *ru.Partition < 0 {
				e.invalid(up.child("rollingUpdate.partition"), *ru.Partition, "must be greater than or equal to 0")
			}
			if ru.MaxUnavailable != nil {
				v := validateIntOrPercent(e, up.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable)
				if v < 1 && !ru.MaxUnavailable.IsString || ru.MaxUnavailable.IsString && (v < 1 || v > 100) {
					e.invalid(up.child("rollingUpdate.maxUnavailable"), ru.MaxUnavailable.String(), "must be at least 1 (or 1% to 100%)")
				}
			}
		}
	case OnDeleteStatefulSetUpdate:
		if s.Spec.UpdateStrategy.RollingUpdate != nil {
			e.forbidden(up.child("rollingUpdate"), "may not be specified when updateStrategy `type` is 'OnDelete'")
		}
	default:
		e.notSupported(up.child("type"), s.Spec.UpdateStrategy.Type, RollingUpdateStrategy, OnDeleteStatefulSetUpdate)
	}
	if v := s.Spec.RevisionHistoryLimit; v != nil && *v < 0 {
		e.invalid(p.child("revisionHistoryLimit"), *v, "must be greater than or equal to 0")
	}
	if s.Spec.MinReadySeconds < 0 {
		e.invalid(p.child("minReadySeconds"), s.Spec.MinReadySeconds, "must be greater than or equal to 0")
	}
	if o := s.Spec.Ordinals; o != nil && o.Start < 0 {
		e.invalid(p.child("ordinals.start"), o.Start, "must be greater than or equal to 0")
	}
	if rp := s.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		for _, f := range []struct{ name, v string }{{"whenDeleted", rp.WhenDeleted}, {"whenScaled", rp.WhenScaled}} {
			if f.v != RetainClaimPolicy && f.v != DeleteClaimPolicy {
				e.notSupported(p.child("persistentVolumeClaimRetentionPolicy."+f.name), f.v, RetainClaimPolicy, DeleteClaimPolicy)
			}
		}
	}
	validateClaimTemplates(e, s, p.child("volumeClaimTemplates"))
}

func validateClaimTemplates(e *errs, s *StatefulSet, p path) {
	seen := map[string]bool{}
	for i := range s.Spec.VolumeClaimTemplates {
		c := &s.Spec.VolumeClaimTemplates[i]
		cp := p.index(i)
		switch {
		case c.Name == "":
			e.required(cp.child("metadata.name"), "the volume name the containers mount, such as 'data'")
		case seen[c.Name]:
			e.duplicate(cp.child("metadata.name"), c.Name)
		default:
			// The claims are named <template>-<set>-<ordinal>.
			for _, msg := range IsDNS1123Label(c.Name) {
				e.invalid(cp.child("metadata.name"), c.Name, msg)
			}
		}
		seen[c.Name] = true
		var ce errs
		validateClaim(&ce, c)
		for _, fe := range ce.list {
			fe.Field = string(cp) + "." + fe.Field
			e.list = append(e.list, fe)
		}
		validateLabels(e, cp.child("metadata.labels"), c.Labels)
	}
}
