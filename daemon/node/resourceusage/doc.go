// Package resourceusage measures the CPU and memory of this node's pods
// and of the node itself, for the resource metrics API
// (metrics.k8s.io: kubectl top, the HorizontalPodAutoscaler).
//
// A Sampler reads the engine's one-shot counters of every running pod
// container every interval and keeps the previous reading of each: the
// CPU usage is the rate between the two (nanocores over the window), the
// memory the working set (usage minus the inactive file cache), as the
// kubelet reports them. The last round is served from memory, so an
// answer costs no engine call; a container is reported from its second
// reading on.
package resourceusage
