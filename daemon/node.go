package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/enginehealth"
	"github.com/shoal-dev/shoal/registry/admission/podsecurity"
)

// maxPods is the pod capacity each node reports, as the kubelet's default.
const maxPods = 110

// apiURL is the URL other agents and clients reach this agent's API at.
func (c Config) apiURL(advertise string) string {
	host, port, err := net.SplitHostPort(c.APIAddr)
	if err != nil {
		port = "7480"
	}
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		advertise = host
	}
	return "https://" + net.JoinHostPort(advertise, port)
}

// nodeObject describes this host from the engine's facts.
func nodeObject(cfg Config, info engine.Info, addr string) *api.Node {
	labels := map[string]string{
		api.LabelHostname: cfg.Name,
		api.LabelOS:       "linux",
		api.LabelArch:     runtime.GOARCH,
		// The deprecated forms the kubelet still sets: older manifests
		// select nodes by them (the Sock Shop demo does).
		api.LabelBetaOS:   "linux",
		api.LabelBetaArch: runtime.GOARCH,
	}
	for k, v := range cfg.NodeLabels {
		labels[k] = v
	}
	capacity := api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(int64(info.NCPU) * 1000),
		api.ResourceMemory: api.NewBytesQuantity(info.MemTotal),
		api.ResourcePods:   api.NewMilliQuantity(maxPods * 1000),
	}
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: cfg.Name, Labels: labels},
		Status: api.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Conditions: []api.Condition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "AgentReady",
				Message: "shoal agent is posting ready status", LastHeartbeatTime: api.Now(), LastTransitionTime: api.Now()}},
			Addresses: []api.NodeAddress{{Type: api.NodeInternalIP, Address: addr}, {Type: api.NodeHostName, Address: cfg.Name}},
			NodeInfo: api.NodeInfo{MachineID: info.ID, KernelVersion: info.KernelVersion, OSImage: info.OperatingSystem,
				ContainerRuntimeVersion: "docker://" + info.ServerVersion, KubeletVersion: cfg.Version,
				OperatingSystem: info.OSType, Architecture: runtime.GOARCH},
		},
	}
}

// Store is the part of the object store the agent's own wiring uses.
type Store interface {
	Get(ctx context.Context, k *api.Kind, ns, name string) (api.Object, error)
	Create(ctx context.Context, obj api.Object) (api.Object, error)
	Update(ctx context.Context, obj api.Object) (api.Object, error)
	UpdateStatus(ctx context.Context, obj api.Object) (api.Object, error)
}

// registerNode creates or refreshes this host's Node: the agent's labels are
// set, labels and taints users added are kept, and the status is rewritten.
func registerNode(ctx context.Context, store Store, want *api.Node) error {
	obj, err := store.Get(ctx, api.KindNode, "", want.Name)
	switch {
	case api.IsNotFound(err):
		created, err := store.Create(ctx, want)
		if err != nil {
			return fmt.Errorf("register node %s: %w", want.Name, err)
		}
		want.ObjectMeta = *created.GetObjectMeta()
	case err != nil:
		return fmt.Errorf("read node %s: %w", want.Name, err)
	default:
		cur := obj.(*api.Node)
		changed := false
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			if cur.Labels[k] != v {
				cur.Labels[k], changed = v, true
			}
		}
		if cur.Annotations == nil {
			cur.Annotations = map[string]string{}
		}
		for k, v := range want.Annotations {
			if cur.Annotations[k] != v {
				cur.Annotations[k], changed = v, true
			}
		}
		if changed {
			if _, err := store.Update(ctx, cur); err != nil {
				return fmt.Errorf("update node %s: %w", want.Name, err)
			}
		}
		want.ObjectMeta = cur.ObjectMeta
		want.Spec = cur.Spec
	}
	want.ResourceVersion = ""
	if _, err := store.UpdateStatus(ctx, want); err != nil {
		return fmt.Errorf("write node status %s: %w", want.Name, err)
	}
	return nil
}

// ensureNamespaces creates the namespaces every cluster has. shoal-system,
// for the cluster's own pods, is labelled privileged (Pod Security exempts
// it in any case; the label says so to whoever reads it).
func ensureNamespaces(ctx context.Context, store Store) error {
	for _, name := range []string{"default", podsecurity.ExemptNamespace} {
		var labels map[string]string
		if name == podsecurity.ExemptNamespace {
			labels = map[string]string{api.LabelPodSecurityEnforce: api.PodSecurityPrivileged}
		}
		obj, err := store.Get(ctx, api.KindNamespace, "", name)
		if api.IsNotFound(err) {
			_, err = store.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}})
			if api.IsAlreadyExists(err) {
				err = nil
			}
		} else if err == nil && labels != nil {
			ns := obj.(*api.Namespace)
			if ns.Labels[api.LabelPodSecurityEnforce] != api.PodSecurityPrivileged {
				if ns.Labels == nil {
					ns.Labels = map[string]string{}
				}
				ns.Labels[api.LabelPodSecurityEnforce] = api.PodSecurityPrivileged
				_, err = store.Update(ctx, ns)
			}
		}
		if err != nil {
			return fmt.Errorf("namespace %s: %w", name, err)
		}
	}
	return nil
}

// Reasons of this node's own Ready condition, as the kubelet's.
const (
	reasonAgentReady      = "AgentReady"
	reasonKubeletNotReady = "KubeletNotReady"
)

// readyCondition is the Ready condition this agent reports for its node
// from its engine's health: False, as the kubelet says it, while the
// engine does not answer. Membership is added by whoever serves the Node
// (nodelifecycle.HealthStore): a node whose agent is gone is Unknown.
func readyCondition(st enginehealth.Status) api.Condition {
	if st.Healthy {
		return api.Condition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: reasonAgentReady,
			Message: "shoal agent is posting ready status", LastHeartbeatTime: api.Now(), LastTransitionTime: api.NewTime(st.Since)}
	}
	msg := "container runtime is down"
	if st.Err != nil {
		msg += ": " + st.Err.Error()
	}
	return api.Condition{Type: api.NodeReady, Status: api.ConditionFalse, Reason: reasonKubeletNotReady,
		Message: msg, LastHeartbeatTime: api.Now(), LastTransitionTime: api.NewTime(st.Since)}
}

// writeReady sets this node's Ready condition in its status.
func writeReady(ctx context.Context, store Store, name string, c api.Condition) error {
	obj, err := store.Get(ctx, api.KindNode, "", name)
	if err != nil {
		return fmt.Errorf("read node %s: %w", name, err)
	}
	n := obj.(*api.Node)
	conds := n.Status.Conditions[:0:0]
	for _, old := range n.Status.Conditions {
		if old.Type != api.NodeReady {
			conds = append(conds, old)
		}
	}
	n.Status.Conditions = append(conds, c)
	if _, err := store.UpdateStatus(ctx, n); err != nil {
		return fmt.Errorf("write node status %s: %w", name, err)
	}
	return nil
}

// reportEngineHealth keeps this node's Ready condition in step with the
// engine's health until ctx ends: it writes it at every change (a failed
// write is tried again, 1 s doubling to 30 s), and calls recovered when the
// engine answers again after an outage. registerNode wrote Ready True
// before it starts.
func reportEngineHealth(ctx context.Context, store Store, name string, chk *enginehealth.Checker, recovered func(), log *slog.Logger) {
	changes, unsubscribe := chk.Subscribe()
	defer unsubscribe()
	written, healthy := true, true
	delay := time.Second
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	for {
		st := chk.Status()
		if st.Healthy && !healthy && recovered != nil {
			recovered()
		}
		healthy = st.Healthy
		if st.Healthy != written {
			if err := writeReady(ctx, store, name, readyCondition(st)); err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("writing this node's Ready condition failed; trying again", "ready", st.Healthy, "in", delay, "err", err)
				retry.Reset(delay)
				delay = min(2*delay, 30*time.Second)
			} else {
				written, delay = st.Healthy, time.Second
				log.Info("node Ready condition written", "ready", st.Healthy)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changes:
		case <-retry.C:
		}
	}
}
