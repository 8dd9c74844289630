package daemon

import (
	"context"
	"fmt"
	"net"
	"runtime"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
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
