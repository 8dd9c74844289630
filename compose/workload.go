package compose

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// service converts one compose service into its workload and Services.
func (c *converter) service(s *types.ServiceConfig) {
	unhonoured(s, func(key string, r KeyRule) {
		if r.Decision == Refused {
			c.refuse(s.Name, key, "%s", r.How)
		} else {
			c.warn(s.Name, key, "not honoured: %s", r.How)
		}
	})
	name := c.names[s.Name]
	tmpl := c.podTemplate(s)
	kind, restart, backoff := c.workloadKind(s)
	tmpl.Spec.RestartPolicy = restart
	selector := &api.LabelSelector{MatchLabels: map[string]string{LabelProject: c.ns, LabelService: name}}
	m := c.meta(name, s.Name)
	if s.Deploy != nil && len(s.Deploy.Labels) > 0 {
		m.Annotations = jsonAnnotation(m.Annotations, AnnotationDeployLabels, s.Deploy.Labels)
	}
	if len(s.DependsOn) > 0 {
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[AnnotationDependsOn] = marshalDependsOn(s.DependsOn, c.names)
		// The cluster holds the pods until the dependencies hold (the
		// leader's compose dependency controller removes the gate). A
		// DaemonSet's gated pods wait unbound, pinned to their node, and
		// the scheduler binds them once released.
		tmpl.Spec.SchedulingGates = []api.PodSchedulingGate{{Name: GateDependsOn}}
	}
	if s.Deploy != nil && s.Deploy.RollbackConfig != nil {
		m.Annotations = jsonAnnotation(m.Annotations, AnnotationRollbackConfig, s.Deploy.RollbackConfig)
	}
	replicas := int32(s.GetScale())
	if s.ContainerName != "" && replicas > 1 {
		c.refuse(s.Name, "container_name", "%q names one container, and the service has %d replicas (docker compose refuses this too)", s.ContainerName, replicas)
	}
	switch kind {
	case "Deployment":
		d := &api.Deployment{ObjectMeta: m, Spec: api.DeploymentSpec{Replicas: api.Int32(replicas), Selector: selector, Template: tmpl}}
		c.deploymentStrategy(s, &d.Spec)
		c.objects = append(c.objects, d)
	case "DaemonSet":
		d := &api.DaemonSet{ObjectMeta: m, Spec: api.DaemonSetSpec{Selector: selector, Template: tmpl}}
		c.daemonSetStrategy(s, &d.Spec)
		c.objects = append(c.objects, d)
	case "Job":
		j := &api.Job{ObjectMeta: m, Spec: api.JobSpec{Completions: api.Int32(replicas), Parallelism: api.Int32(replicas), BackoffLimit: backoff, Template: tmpl}}
		if s.Deploy != nil && s.Deploy.UpdateConfig != nil {
			c.warn(s.Name, "deploy.update_config", "not honoured: a service that runs to completion (a Job) has no rolling update")
		}
		c.objects = append(c.objects, j)
	}
	c.services(s, name)
}

// workloadKind picks the kind of a service's workload and its pods'
// restart policy, from deploy.mode, restart and deploy.restart_policy
// (which wins, as in docker compose).
func (c *converter) workloadKind(s *types.ServiceConfig) (kind, restart string, backoff *int32) {
	mode := "replicated"
	if s.Deploy != nil && s.Deploy.Mode != "" {
		mode = s.Deploy.Mode
	}
	restart = api.RestartAlways
	key := "restart"
	switch policy, arg, _ := strings.Cut(s.Restart, ":"); policy {
	case "":
		if c.completes[s.Name] && (s.Deploy == nil || s.Deploy.RestartPolicy == nil) {
			// Another service waits for this one to complete: it runs
			// once, as compose's default (no restart) has it.
			restart, backoff = api.RestartNever, api.Int32(0)
		}
	case types.RestartPolicyAlways, types.RestartPolicyUnlessStopped:
	case types.RestartPolicyNo:
		restart, backoff = api.RestartNever, api.Int32(0)
	case types.RestartPolicyOnFailure:
		restart = api.RestartOnFailure
		if arg != "" {
			if n, err := strconv.ParseInt(arg, 10, 32); err == nil && n >= 0 {
				backoff = api.Int32(int32(n))
			} else {
				c.refuse(s.Name, "restart", "%q: the retry count must be a number", s.Restart)
			}
		}
	default:
		c.refuse(s.Name, "restart", "%q is not a restart policy: use no, always, on-failure[:N] or unless-stopped", s.Restart)
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		key = "deploy.restart_policy.condition"
		switch rp.Condition {
		case "", "any":
			restart = api.RestartAlways
		case "on-failure":
			restart = api.RestartOnFailure
		case "none":
			restart, backoff = api.RestartNever, api.Int32(0)
		default:
			c.refuse(s.Name, key, "%q is not a condition: use none, on-failure or any", rp.Condition)
		}
		if restart != api.RestartNever {
			backoff = nil
		}
		if rp.MaxAttempts != nil {
			if restart == api.RestartAlways {
				c.warn(s.Name, "deploy.restart_policy.max_attempts", "not honoured: a service that always restarts has no attempt limit in shoal")
			} else {
				backoff = api.Int32(int32(min(*rp.MaxAttempts, 1<<30)))
			}
		}
	}
	switch mode {
	case "replicated":
		if restart == api.RestartAlways {
			return "Deployment", restart, nil
		}
		return "Job", restart, backoff
	case "global":
		if s.Scale != nil || s.Deploy.Replicas != nil {
			c.warn(s.Name, "deploy.replicas", "not honoured: a global service runs one pod on every node")
		}
		if restart != api.RestartAlways {
			c.warn(s.Name, key, "not honoured: a global service runs on every node and always restarts (a DaemonSet)")
		}
		return "DaemonSet", api.RestartAlways, nil
	case "replicated-job":
		if restart == api.RestartAlways {
			restart = api.RestartOnFailure
		}
		return "Job", restart, backoff
	case "global-job":
		c.refuse(s.Name, "deploy.mode", "global-job: shoal has no kind that runs once on every node yet")
	default:
		c.refuse(s.Name, "deploy.mode", "%q is not a mode: use replicated, global, replicated-job or global-job", mode)
	}
	return "Deployment", api.RestartAlways, nil
}

func (c *converter) rollingParams(s *types.ServiceConfig) (surge, unavailable *api.IntOrString, minReady int32) {
	if s.Deploy == nil || s.Deploy.UpdateConfig == nil {
		return nil, nil, 0
	}
	u := s.Deploy.UpdateConfig
	n := api.FromInt(1) // Swarm's default parallelism
	if u.Parallelism != nil {
		if *u.Parallelism == 0 {
			n = api.FromString("100%")
		} else {
			n = api.FromInt(int32(min(*u.Parallelism, 1<<30)))
		}
	}
	zero := api.FromInt(0)
	switch u.Order {
	case "", "stop-first":
		surge, unavailable = &zero, &n
	case "start-first":
		surge, unavailable = &n, &zero
	default:
		c.refuse(s.Name, "deploy.update_config.order", "%q: use stop-first or start-first", u.Order)
	}
	switch u.FailureAction {
	case "", "pause":
	case "rollback", "continue":
		c.warn(s.Name, "deploy.update_config.failure_action", "%s not honoured: a failing rollout stops (Progressing=False); roll back with shoal rollout undo", u.FailureAction)
	default:
		c.refuse(s.Name, "deploy.update_config.failure_action", "%q: use pause, continue or rollback", u.FailureAction)
	}
	return surge, unavailable, seconds(u.Delay)
}

func (c *converter) deploymentStrategy(s *types.ServiceConfig, spec *api.DeploymentSpec) {
	surge, unavailable, minReady := c.rollingParams(s)
	if surge == nil {
		return
	}
	spec.Strategy = api.DeploymentStrategy{Type: api.RollingUpdateStrategy,
		RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: surge, MaxUnavailable: unavailable}}
	spec.MinReadySeconds = minReady
}

func (c *converter) daemonSetStrategy(s *types.ServiceConfig, spec *api.DaemonSetSpec) {
	surge, unavailable, minReady := c.rollingParams(s)
	if surge == nil {
		return
	}
	spec.UpdateStrategy = api.DaemonSetUpdateStrategy{Type: api.RollingUpdateStrategy,
		RollingUpdate: &api.RollingUpdateDaemonSet{MaxSurge: surge, MaxUnavailable: unavailable}}
	spec.MinReadySeconds = minReady
}

// seconds rounds a duration up to whole seconds.
func seconds(d types.Duration) int32 {
	const s = int64(1e9)
	if d <= 0 {
		return 0
	}
	return int32(min(int64(d)/s+min(int64(d)%s, 1), 1<<30))
}

// jsonAnnotation adds v as JSON under key.
func jsonAnnotation(into map[string]string, key string, v any) map[string]string {
	if into == nil {
		into = map[string]string{}
	}
	b, _ := json.Marshal(v)
	into[key] = string(b)
	return into
}

// annotations adds compose annotations, skipping (with a warning) keys
// Kubernetes cannot hold.
func (c *converter) annotations(svc, key string, into map[string]string, labels map[string]string) map[string]string {
	if into == nil {
		into = map[string]string{}
	}
	for k, v := range labels {
		if errs := api.IsQualifiedName(k); len(errs) > 0 {
			c.warn(svc, key, "%q not kept: %s", k, strings.Join(errs, "; "))
			continue
		}
		into[k] = v
	}
	return into
}

func fmtPort(p types.ServicePortConfig) string {
	if p.Published == "" {
		return fmt.Sprintf("%d/%s", p.Target, p.Protocol)
	}
	return fmt.Sprintf("%s:%d/%s", p.Published, p.Target, p.Protocol)
}
