package runtime

// Event reasons the runner records, as the kubelet names them, so that
// tools matching on them (kubectl describe readers, alerting rules) work.
const (
	ReasonUnhealthy              = "Unhealthy"
	ReasonFailedCreatePodSandBox = "FailedCreatePodSandBox"
	ReasonFailedMount            = "FailedMount"
	ReasonSandboxChanged         = "SandboxChanged"
	ReasonKilling                = "Killing"
	ReasonFailed                 = "Failed"
	ReasonRestarted              = "Restarted"
	ReasonStarted                = "Started"
	ReasonErrImageNeverPull      = "ErrImageNeverPull"
	ReasonPulling                = "Pulling"
	ReasonPulled                 = "Pulled"
	// ReasonFailedSync: a call to the engine (or the store) failed while
	// the pod was synced or terminated; it is tried again with back-off.
	ReasonFailedSync = "FailedSync"
)
