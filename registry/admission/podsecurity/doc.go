// Package podsecurity is Pod Security admission: Kubernetes' Pod Security
// Standards (privileged, baseline, restricted) checked on every write of a
// Pod or of a workload's pod template, at the level a namespace chooses by
// its pod-security.kubernetes.io/enforce label (refuse), warn label (accept
// with warnings) and audit label (log), or the cluster default.
package podsecurity
