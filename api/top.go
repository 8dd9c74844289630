package api

// PodTop is the answer of a pod's top subresource
// (GET .../pods/NAME/top?container=C): the processes running in one of
// its containers, as the engine's `docker top` lists them.
type PodTop struct {
	TypeMeta  `json:",inline"`
	Pod       string     `json:"pod"`
	Container string     `json:"container"`
	Node      string     `json:"node,omitempty"`
	Titles    []string   `json:"titles"`
	Processes [][]string `json:"processes"`
}
