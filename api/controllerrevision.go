package api

import (
	"encoding/json"
	"strings"
)

// ControllerRevision is an immutable snapshot of a workload's pod template,
// as Kubernetes' apps/v1 ControllerRevision: the StatefulSet controller
// keeps one per template revision, so that pods of an older revision can be
// made again and `kubectl rollout history` has something to show.
type ControllerRevision struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	// Data is the state of the revision, for a StatefulSet the patch
	// {"spec":{"template":{...,"$patch":"replace"}}} as Kubernetes writes it.
	Data     json.RawMessage `json:"data,omitempty"`
	Revision int64           `json:"revision"`
}

func validateControllerRevision(e *errs, r *ControllerRevision) {
	if r.Revision < 0 {
		e.invalid("revision", r.Revision, "must be greater than or equal to 0")
	}
	if d := strings.TrimSpace(string(r.Data)); d != "" && d != "null" {
		var m map[string]any
		if err := json.Unmarshal(r.Data, &m); err != nil {
			e.invalid("data", nil, "must be a JSON object: "+err.Error())
		}
	}
}
