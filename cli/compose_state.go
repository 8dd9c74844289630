package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/compose"
)

// serviceState is where one service of a project stands, read from its
// workload and pods.
type serviceState struct {
	name     string // the compose name
	kind     string
	image    string
	replicas string // ready/desired; completed/completions for a one-shot service
	state    string
	ports    []string
	done     bool // running and ready, or completed
	failed   bool // a one-shot service that failed
}

func (s serviceState) line() string { return s.state }

// podCounts are a service's pods by what they do.
type podCounts struct {
	running, ready, gated int
	problem               string // the first container that cannot start, and why
}

func countPods(pods []*api.Pod) podCounts {
	var n podCounts
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, g := range p.Spec.SchedulingGates {
			if g.Name == compose.GateDependsOn {
				n.gated++
				break
			}
		}
		if p.Status.Phase == api.PodRunning {
			n.running++
			if api.IsPodReady(p) {
				n.ready++
			}
		}
		if n.problem == "" {
			n.problem = podProblem(p)
		}
	}
	return n
}

// podProblem names a container that waits for a reason other than being
// made, as kubectl's STATUS column shows it (CrashLoopBackOff,
// ErrImageNeverPull...).
func podProblem(p *api.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "", "ContainerCreating", "PodInitializing":
			default:
				return fmt.Sprintf("%s: %s", p.Name, w.Reason)
			}
		}
	}
	return ""
}

// projectStates reads every service of the project in namespace ns.
func projectStates(ctx context.Context, c *client.Client, ns string) (map[string]serviceState, error) {
	sel := api.SelectorFromSet(map[string]string{compose.LabelProject: ns})
	list := func(k *api.Kind) ([]api.Object, error) {
		objs, _, err := c.List(ctx, k, ns, api.ListOptions{LabelSelector: sel})
		if err != nil {
			return nil, fmt.Errorf("list %s of project %s: %w", k.Resource, ns, err)
		}
		return objs, nil
	}
	podObjs, err := list(api.KindPod)
	if err != nil {
		return nil, err
	}
	pods := map[string][]*api.Pod{}
	for _, o := range podObjs {
		pods[compose.ServiceOf(o)] = append(pods[compose.ServiceOf(o)], o.(*api.Pod))
	}
	svcObjs, err := list(api.KindService)
	if err != nil {
		return nil, err
	}
	// Endpoints carry no project label: list the namespace's (a project
	// has its own namespace).
	epObjs, _, err := c.List(ctx, api.KindEndpoints, ns, api.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list endpoints of project %s: %w", ns, err)
	}
	resolvable := readyAddresses(epObjs)
	out := map[string]serviceState{}
	for _, k := range []*api.Kind{api.KindDeployment, api.KindDaemonSet, api.KindJob} {
		objs, err := list(k)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			svc := compose.ServiceOf(o)
			if svc == "" {
				continue
			}
			st := workloadState(o, countPods(pods[svc]))
			st.name = compose.ServiceName(o)
			st.ports = publishedPorts(o, svcObjs)
			holdUntilResolvable(&st, o, svcObjs, resolvable)
			out[svc] = st
		}
	}
	return out, nil
}

// readyAddresses counts the ready addresses of each Endpoints by name.
func readyAddresses(eps []api.Object) map[string]int {
	out := make(map[string]int, len(eps))
	for _, o := range eps {
		e := o.(*api.Endpoints)
		for _, s := range e.Subsets {
			out[e.Name] += len(s.Addresses)
		}
	}
	return out
}

// holdUntilResolvable keeps a running service from counting as done until
// each of its headless Services (its name, aliases and container_name)
// lists every wanted replica: the cluster DNS answers from those
// Endpoints, and a pod turns ready a moment before it is published there.
// Docker compose's names resolve as soon as a container runs, so `up`
// returning is taken as the promise that the names resolve.
func holdUntilResolvable(st *serviceState, o api.Object, svcs []api.Object, ready map[string]int) {
	if !st.done || st.kind == "Job" {
		return
	}
	want := 0
	switch w := o.(type) {
	case *api.Deployment:
		want = int(deref(w.Spec.Replicas))
	case *api.DaemonSet:
		want = int(w.Status.DesiredNumberScheduled)
	}
	svc := compose.ServiceOf(o)
	for _, s := range svcs {
		sv := s.(*api.Service)
		if compose.ServiceOf(sv) != svc || sv.Spec.ClusterIP != api.ClusterIPNone {
			continue
		}
		if n := ready[sv.Name]; n < want {
			st.done = false
			st.state = fmt.Sprintf("running, %d/%d ready; %d/%d resolvable as %s", want, want, n, want, sv.Name)
			return
		}
	}
}

// workloadState says where a service's workload stands.
func workloadState(o api.Object, n podCounts) serviceState {
	st := serviceState{kind: api.KindOf(o).Kind}
	var tmpl *api.PodTemplateSpec
	var want, ready int32
	rollingDone := false
	switch w := o.(type) {
	case *api.Deployment:
		tmpl = &w.Spec.Template
		want, ready = deref(w.Spec.Replicas), w.Status.ReadyReplicas
		rollingDone = w.Status.ObservedGeneration >= w.Generation && w.Status.UpdatedReplicas == want &&
			w.Status.ReadyReplicas == want && w.Status.Replicas == want
	case *api.DaemonSet:
		tmpl = &w.Spec.Template
		want, ready = w.Status.DesiredNumberScheduled, w.Status.NumberReady
		rollingDone = w.Status.ObservedGeneration >= w.Generation && w.Status.UpdatedNumberScheduled == want &&
			w.Status.NumberReady == want
	case *api.Job:
		tmpl = &w.Spec.Template
		st.replicas = fmt.Sprintf("%d/%d", w.Status.Succeeded, deref(w.Spec.Completions))
		complete, failed, why := jobEnded(w)
		switch {
		case complete:
			st.state, st.done = "completed", true
		case failed:
			st.state, st.failed = "failed: "+why, true
		case n.gated > 0:
			st.state = "waiting for " + strings.Join(compose.DependenciesOf(o), ", ")
		case n.problem != "":
			st.state = n.problem
		case n.running > 0:
			st.state = "running"
		default:
			st.state = "starting"
		}
	}
	if len(tmpl.Spec.Containers) > 0 {
		st.image = tmpl.Spec.Containers[0].Image
	}
	if st.kind == "Job" {
		return st
	}
	st.replicas = fmt.Sprintf("%d/%d", ready, want)
	switch {
	case rollingDone:
		st.state, st.done = fmt.Sprintf("running, %d/%d ready", ready, want), true
	case n.gated > 0:
		st.state = "waiting for " + strings.Join(compose.DependenciesOf(o), ", ")
	case n.problem != "":
		st.state = fmt.Sprintf("%d/%d ready; %s", ready, want, n.problem)
	default:
		st.state = fmt.Sprintf("starting, %d/%d ready", ready, want)
	}
	return st
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func jobEnded(j *api.Job) (complete, failed bool, why string) {
	for _, c := range j.Status.Conditions {
		if c.Status != api.ConditionTrue {
			continue
		}
		switch c.Type {
		case api.JobComplete:
			complete = true
		case api.JobFailed:
			failed, why = true, c.Message
		}
	}
	return complete, failed, why
}

// publishedPorts lists a service's published ports as docker compose ps
// does: node ports answer on every host (*), host ports on the hosts that
// run the service's pods.
func publishedPorts(o api.Object, svcs []api.Object) []string {
	svc := compose.ServiceOf(o)
	var out []string
	for _, s := range svcs {
		sv := s.(*api.Service)
		if compose.ServiceOf(sv) != svc || sv.Spec.Type != api.ServiceTypeNodePort {
			continue
		}
		for _, p := range sv.Spec.Ports {
			out = append(out, fmt.Sprintf("*:%d->%s/%s", p.NodePort, p.TargetPort.String(), strings.ToLower(p.Protocol)))
		}
	}
	var tmpl *api.PodTemplateSpec
	switch w := o.(type) {
	case *api.Deployment:
		tmpl = &w.Spec.Template
	case *api.DaemonSet:
		tmpl = &w.Spec.Template
	case *api.Job:
		tmpl = &w.Spec.Template
	}
	for _, c := range tmpl.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, fmt.Sprintf("%s:%d->%d/%s (host)", ip, p.HostPort, p.ContainerPort, strings.ToLower(p.Protocol)))
		}
	}
	sort.Strings(out)
	return out
}
