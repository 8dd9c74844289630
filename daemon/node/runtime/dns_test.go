package runtime

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

func TestSandboxGetsTheClusterDNS(t *testing.T) {
	gateway := "10.244.1.1"
	w := &podWorker{rt: &Runtime{cfg: Config{NodeName: "n1", SandboxImage: "pause:1", Network: "shoal",
		DNSServers: func() []string { return []string{gateway} },
		DNSSearch: func(ns string) []string {
			return []string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"}
		}}}}
	pod := func(policy string, hostNetwork bool) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "shop", UID: "u1"},
			Spec: api.PodSpec{DNSPolicy: policy, HostNetwork: hostNetwork}}
	}

	spec := w.sandboxSpec(pod("ClusterFirst", false), 0)
	if !slices.Equal(spec.DNS, []string{gateway}) || !slices.Equal(spec.DNSOptions, []string{"ndots:5"}) ||
		!slices.Equal(spec.DNSSearch, []string{"shop.svc.cluster.local", "svc.cluster.local", "cluster.local"}) {
		t.Fatalf("engine DNS settings %v %v %v", spec.DNS, spec.DNSSearch, spec.DNSOptions)
	}

	// The server follows the gateway when the node's subnet moves.
	gateway = "10.244.7.1"
	if spec := w.sandboxSpec(pod("ClusterFirst", false), 1); !slices.Equal(spec.DNS, []string{"10.244.7.1"}) {
		t.Fatalf("after a move: %v", spec.DNS)
	}
	for _, p := range []*api.Pod{pod("Default", false), pod("ClusterFirst", true)} {
		if spec := w.sandboxSpec(p, 0); spec.DNS != nil || spec.DNSSearch != nil || spec.DNSOptions != nil {
			t.Fatalf("dnsPolicy %s hostNetwork %v got cluster DNS: %v %v %v", p.Spec.DNSPolicy, p.Spec.HostNetwork, spec.DNS, spec.DNSSearch, spec.DNSOptions)
		}
	}
}

// The leader marks the pods of a node it cannot reach not ready; once the
// node's runtime sees that, it reports the readiness it measures again (the
// status it builds starts from the stored one, so it differs and is written).
func TestReadinessMarkedFalseElsewhereIsReportedAgain(t *testing.T) {
	f := newFixture(t)
	f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	ready := func() error {
		if got := f.pod("web"); got == nil || !api.IsPodReady(got) {
			return fmt.Errorf("not ready")
		}
		return nil
	}
	poll.Until(t, 5*time.Second, "pod ready", ready)
	p := f.pod("web")
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == api.PodReady {
			p.Status.Conditions[i].Status, p.Status.Conditions[i].Reason = api.ConditionFalse, "NodeNotReady"
		}
	}
	if _, err := f.objs.UpdateStatus(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "readiness reported again", ready)
}
