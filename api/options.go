package api

// Watch event types.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
	Bookmark = "BOOKMARK"
	Error    = "ERROR"
)

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   string `json:"type"`
	Object Object `json:"object"`
}

// InitialEventsEndAnnotation marks the BOOKMARK that ends the initial
// events of a watch asked to send them (sendInitialEvents=true), as
// Kubernetes marks it: clients then know they hold the whole state.
const InitialEventsEndAnnotation = "k8s.io/initial-events-end"

// ListOptions narrow a list or a watch.
type ListOptions struct {
	LabelSelector Selector
	// FieldSelector keeps the objects whose fields match (metadata.name,
	// metadata.namespace, and a few fields of some kinds).
	FieldSelector FieldSelector
	// ResourceVersion: for watches, send changes after this version.
	ResourceVersion string
	// InitialEvents: with a ResourceVersion, a watch starts with an ADDED
	// event for every object instead of the changes after it; without
	// one, NoInitialEvents skips them. Either way, with
	// InitialEventsBookmark a BOOKMARK annotated InitialEventsEndAnnotation
	// follows the initial events.
	InitialEvents, NoInitialEvents, InitialEventsBookmark bool
	// Bookmarks: a watch sends a BOOKMARK with the current resourceVersion
	// when it has been idle a while, so that a client resumes from there.
	Bookmarks bool
}

// Matches reports whether obj satisfies both selectors.
func (o ListOptions) Matches(obj Object) bool {
	return o.LabelSelector.Matches(obj.GetObjectMeta().Labels) && o.FieldSelector.Matches(obj)
}

// Selects reports whether the options narrow the objects at all.
func (o ListOptions) Selects() bool { return !o.LabelSelector.Empty() || !o.FieldSelector.Empty() }

// DeleteOptions control a delete.
type DeleteOptions struct {
	// GracePeriodSeconds: nil uses the pod's terminationGracePeriodSeconds;
	// 0 removes the object at once without waiting for its containers.
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
	// Preconditions: delete only the object with this uid.
	UID string `json:"-"`
	// ResourceVersion, a precondition too: delete only this version.
	ResourceVersion string `json:"-"`
	// PropagationPolicy says what becomes of the object's dependents
	// (the objects whose ownerReferences name it): "" and Background
	// delete them after it, Foreground before it (the object stays,
	// being deleted, with the finalizer FinalizerForeground until they
	// are gone), Orphan keeps them and drops their references to it.
	PropagationPolicy string `json:"propagationPolicy,omitempty"`
	// OrphanDependents is the deprecated form of PropagationPolicy, kept
	// as sent: Kubernetes answers 202 Accepted to a delete that set it
	// false and did not remove the object at once.
	OrphanDependents *bool `json:"orphanDependents,omitempty"`
}

// Propagation policies of a delete, as Kubernetes names them.
const (
	DeletePropagationBackground = "Background"
	DeletePropagationForeground = "Foreground"
	DeletePropagationOrphan     = "Orphan"
)

// FinalizerForeground is the finalizer a foreground delete puts on the
// object: the garbage collector removes it once no dependent that blocks
// its owner's deletion (ownerReferences[].blockOwnerDeletion) is left.
const FinalizerForeground = "foregroundDeletion"

// HasFinalizer reports whether m lists the finalizer f.
func HasFinalizer(m *ObjectMeta, f string) bool {
	for _, x := range m.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// LogOptions select the log lines of one container.
type LogOptions struct {
	Container  string
	Follow     bool
	Previous   bool
	Timestamps bool
	TailLines  *int64
	SinceTime  *Time
	// LimitBytes ends the log after this many bytes (nil: no limit).
	LimitBytes *int64
}

// ExecOptions describe a command to run in a container.
type ExecOptions struct {
	Container string
	Command   []string
	Stdin     bool
	Stdout    bool
	Stderr    bool
	TTY       bool
}

// Exec stream channel numbers (the Kubernetes channel protocol over websocket):
// the first byte of every binary message names the stream.
const (
	StreamStdin  = 0
	StreamStdout = 1
	StreamStderr = 2
	StreamError  = 3   // a JSON Status at the end: Success, or Failure with the exit code
	StreamResize = 4   // {"Width":w,"Height":h}
	StreamClose  = 255 // v5: the client closed the stream named by the next byte (stdin)
	// ExecProtocol is the websocket sub-protocol shoal's own client speaks.
	ExecProtocol = "v4.channel.k8s.io"
	// ExecProtocolV5 is v4 plus StreamClose, which kubectl 1.30 and later
	// send to end stdin.
	ExecProtocolV5 = "v5.channel.k8s.io"
	// PortForwardProtocol is the one port-forward protocol: SPDY streams
	// in pairs (data and error) per forwarded connection.
	PortForwardProtocol = "portforward.k8s.io"
	// PortForwardTunnelProtocol is the websocket sub-protocol that carries
	// SPDY port-forward over a websocket (kubectl 1.31 and later).
	PortForwardTunnelProtocol = "SPDY/3.1+" + PortForwardProtocol
)

// TerminalSize is a resize message on StreamResize.
type TerminalSize struct {
	Width  uint16 `json:"Width"`
	Height uint16 `json:"Height"`
}

// BlocksOwner reports whether the object's reference to the owner with the
// uid blocks the owner's foreground deletion (blockOwnerDeletion).
func BlocksOwner(m *ObjectMeta, owner string) bool {
	for _, ref := range m.OwnerReferences {
		if ref.UID == owner && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			return true
		}
	}
	return false
}
