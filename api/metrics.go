package api

// The resource metrics API (metrics.k8s.io/v1beta1), as metrics-server
// serves it: the CPU and memory each pod's containers and each node use
// now. It is read-only and not stored: agents measure it from their
// engines (daemon/node/resourceusage).

// MetricsGroupVersion is the apiVersion of PodMetrics and NodeMetrics.
const MetricsGroupVersion = "metrics.k8s.io/v1beta1"

// PodMetrics is the usage of one pod's containers over a short window.
type PodMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Timestamp  Time `json:"timestamp"`
	// Window is the interval the CPU rate was measured over, as
	// Kubernetes writes a duration ("10.02s").
	Window     string             `json:"window"`
	Containers []ContainerMetrics `json:"containers"`
}

// ContainerMetrics is one container's usage: cpu (cores, averaged over
// the window) and memory (working set bytes).
type ContainerMetrics struct {
	Name  string       `json:"name"`
	Usage ResourceList `json:"usage"`
}

// NodeMetrics is the usage of a whole node.
type NodeMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitzero"`
	Timestamp  Time         `json:"timestamp"`
	Window     string       `json:"window"`
	Usage      ResourceList `json:"usage"`
}

// PodMetricsList and NodeMetricsList are the list answers.
type PodMetricsList struct {
	TypeMeta `json:",inline"`
	ListMeta `json:"metadata"`
	Items    []PodMetrics `json:"items"`
}

// NodeMetricsList is a list of NodeMetrics.
type NodeMetricsList struct {
	TypeMeta `json:",inline"`
	ListMeta `json:"metadata"`
	Items    []NodeMetrics `json:"items"`
}
