package api

// Job runs pods until a number of them succeed.
type Job struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       JobSpec   `json:"spec,omitzero"`
	Status     JobStatus `json:"status,omitzero"`
}

// JobSpec is the desired state of a Job.
type JobSpec struct {
	Parallelism             *int32          `json:"parallelism,omitempty"`
	Completions             *int32          `json:"completions,omitempty"`
	ActiveDeadlineSeconds   *int64          `json:"activeDeadlineSeconds,omitempty"`
	BackoffLimit            *int32          `json:"backoffLimit,omitempty"`
	Selector                *LabelSelector  `json:"selector,omitempty"`
	ManualSelector          *bool           `json:"manualSelector,omitempty"`
	Template                PodTemplateSpec `json:"template,omitzero"`
	TTLSecondsAfterFinished *int32          `json:"ttlSecondsAfterFinished,omitempty"`
	CompletionMode          string          `json:"completionMode,omitempty"`
	Suspend                 *bool           `json:"suspend,omitempty"`
}

// JobStatus is written by the Job controller.
type JobStatus struct {
	Conditions     []Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	StartTime      *Time       `json:"startTime,omitempty"`
	CompletionTime *Time       `json:"completionTime,omitempty"`
	Active         int32       `json:"active,omitempty"`
	Succeeded      int32       `json:"succeeded,omitempty"`
	Failed         int32       `json:"failed,omitempty"`
	Ready          *int32      `json:"ready,omitempty"`
}

// Job condition types, reasons and the labels of its pods.
const (
	JobComplete = "Complete"
	JobFailed   = "Failed"

	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"

	LabelControllerUID = "controller-uid"
	LabelJobName       = "job-name"
	// The prefixed forms Kubernetes 1.27+ sets too.
	LabelBatchControllerUID = "batch.kubernetes.io/controller-uid"
	LabelBatchJobName       = "batch.kubernetes.io/job-name"

	CompletionModeNonIndexed = "NonIndexed"
)

// IsJobFinished reports whether a Job has a Complete or Failed condition.
func IsJobFinished(j *Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == ConditionTrue {
			return true
		}
	}
	return false
}

// DaemonSet runs one pod on every matching node.
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Spec       DaemonSetSpec   `json:"spec,omitzero"`
	Status     DaemonSetStatus `json:"status,omitzero"`
}

// DaemonSetSpec is the desired state of a DaemonSet.
type DaemonSetSpec struct {
	Selector             *LabelSelector          `json:"selector"`
	Template             PodTemplateSpec         `json:"template,omitzero"`
	UpdateStrategy       DaemonSetUpdateStrategy `json:"updateStrategy,omitzero"`
	MinReadySeconds      int32                   `json:"minReadySeconds,omitempty"`
	RevisionHistoryLimit *int32                  `json:"revisionHistoryLimit,omitempty"`
}

// DaemonSetUpdateStrategy says how pods are replaced on a template change.
type DaemonSetUpdateStrategy struct {
	Type          string                  `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDaemonSet bounds a DaemonSet's rolling update.
type RollingUpdateDaemonSet struct {
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	MaxSurge       *IntOrString `json:"maxSurge,omitempty"`
}

// DaemonSet update strategies and the label of its pods' template revision.
const (
	OnDeleteDaemonSetStrategy = "OnDelete"
	LabelControllerRevision   = "controller-revision-hash"
)

// DaemonSetStatus is written by the DaemonSet controller.
type DaemonSetStatus struct {
	CurrentNumberScheduled int32       `json:"currentNumberScheduled"`
	NumberMisscheduled     int32       `json:"numberMisscheduled"`
	DesiredNumberScheduled int32       `json:"desiredNumberScheduled"`
	NumberReady            int32       `json:"numberReady"`
	ObservedGeneration     int64       `json:"observedGeneration,omitempty"`
	UpdatedNumberScheduled int32       `json:"updatedNumberScheduled,omitempty"`
	NumberAvailable        int32       `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32       `json:"numberUnavailable,omitempty"`
	Conditions             []Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}
