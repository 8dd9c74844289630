package api

// MemberList is the answer of GET /shoal/v1/members: the agents of the
// cluster as the answering agent sees them, and the leader it follows.
type MemberList struct {
	TypeMeta `json:",inline"`
	// Self is the name of the agent that answered.
	Self   string   `json:"self"`
	Leader string   `json:"leader"`
	Items  []Member `json:"items"`
}

// Member is one agent of the cluster.
type Member struct {
	Name string `json:"name"`
	// Address is the gossip address, host:port.
	Address string `json:"address"`
	// APIAddress is the URL of the agent's API.
	APIAddress string `json:"apiAddress,omitempty"`
	// State is alive, suspect, dead or left.
	State string `json:"state"`
	// Since is when the member entered its state.
	Since Time `json:"since,omitzero"`
	// Version is the agent's version.
	Version string `json:"version,omitempty"`
}

// Member states.
const (
	MemberAlive   = "alive"
	MemberSuspect = "suspect"
	MemberDead    = "dead"
	MemberLeft    = "left"
)

// Node labels and taints the command line uses for cordon and drain.
const (
	TaintUnschedulable = "node.kubernetes.io/unschedulable"
	TaintUnreachable   = "node.kubernetes.io/unreachable"
	TaintNotReady      = "node.kubernetes.io/not-ready"
)
