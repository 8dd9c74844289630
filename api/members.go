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
	// Clock is the member's clock as the answering agent last measured it
	// over gossip; absent for the answering agent itself and for members
	// not measured yet.
	Clock *MemberClock `json:"clock,omitempty"`
	// FutureWritesRefused counts the member's writes the answering agent
	// refused because they were stamped further ahead of its clock than
	// the maximum clock offset; LastFutureWriteRefused is when the last was.
	FutureWritesRefused    int64 `json:"futureWritesRefused,omitempty"`
	LastFutureWriteRefused Time  `json:"lastFutureWriteRefused,omitzero"`
}

// MemberClock is how far a member's clock is from the answering agent's.
type MemberClock struct {
	// Offset is how far ahead the member's clock is (negative: behind), as
	// a duration such as "1.2ms" or "-5m0s".
	Offset string `json:"offset"`
	// Uncertainty bounds the measurement's error (half the round trip).
	Uncertainty string `json:"uncertainty"`
	// Measured is when.
	Measured Time `json:"measured,omitzero"`
	// Skewed is true when the clocks surely differ by more than the
	// maximum clock offset: the member's writes stamped beyond it are
	// refused (when it is ahead), or this agent's are refused by it.
	Skewed bool `json:"skewed,omitempty"`
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
