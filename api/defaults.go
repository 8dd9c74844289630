package api

import "strings"

// Default fills the fields Kubernetes fills when a user leaves them out, so that
// stored objects are explicit and controllers need not guess.
func Default(o Object) {
	defaultRBAC(o)
	switch obj := o.(type) {
	case *Pod:
		DefaultPodSpec(&obj.Spec)
	case *ReplicaSet:
		if obj.Spec.Replicas == nil {
			obj.Spec.Replicas = Int32(1)
		}
		defaultTemplate(&obj.Spec.Template, &obj.Spec.Selector)
	case *ReplicationController:
		defaultReplicationController(obj)
	case *Deployment:
		defaultDeployment(obj)
	case *Job:
		defaultJob(obj)
	case *CronJob:
		defaultCronJob(obj)
	case *StorageClass:
		defaultStorageClass(obj)
	case *PersistentVolume:
		defaultPersistentVolume(obj)
	case *DaemonSet:
		defaultDaemonSet(obj)
	case *StatefulSet:
		defaultStatefulSet(obj)
	case *HorizontalPodAutoscaler:
		defaultHorizontalPodAutoscaler(obj)
	case *Service:
		defaultService(obj)
	case *Ingress:
		for i := range obj.Spec.Rules {
			if h := obj.Spec.Rules[i].HTTP; h != nil {
				for j := range h.Paths {
					if h.Paths[j].Path == "" {
						h.Paths[j].Path = "/"
					}
				}
			}
		}
	case *Secret:
		if obj.Type == "" {
			obj.Type = "Opaque"
		}
		for k, v := range obj.StringData {
			if obj.Data == nil {
				obj.Data = map[string][]byte{}
			}
			obj.Data[k] = []byte(v)
		}
		obj.StringData = nil
	case *Namespace:
		if obj.Status.Phase == "" {
			obj.Status.Phase = NamespaceActive
		}
	}
}

func defaultTemplate(t *PodTemplateSpec, sel **LabelSelector) {
	DefaultPodSpec(&t.Spec)
	// apps/v1 requires a selector; an old manifest without one gets the
	// template's labels, as extensions/v1beta1 did.
	if *sel == nil && len(t.Labels) > 0 {
		m := make(map[string]string, len(t.Labels))
		for k, v := range t.Labels {
			m[k] = v
		}
		*sel = &LabelSelector{MatchLabels: m}
	}
}

func defaultDeployment(d *Deployment) {
	if d.Spec.Replicas == nil {
		d.Spec.Replicas = Int32(1)
	}
	defaultTemplate(&d.Spec.Template, &d.Spec.Selector)
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = RollingUpdateStrategy
	}
	if d.Spec.Strategy.Type == RollingUpdateStrategy {
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := d.Spec.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			v := FromString("25%")
			ru.MaxSurge = &v
		}
		if ru.MaxUnavailable == nil {
			v := FromString("25%")
			ru.MaxUnavailable = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = Int32(10)
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		d.Spec.ProgressDeadlineSeconds = Int32(600)
	}
}

// Default modes of projected files: ConfigMaps 0644 as in Kubernetes; Secrets
// 0400, stricter than Kubernetes, since only the pod's own user should read them.
const (
	DefaultConfigMapMode int32 = 0o644
	DefaultSecretMode    int32 = 0o400
)

// DefaultPodSpec fills a pod spec's defaults.
func DefaultPodSpec(s *PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = Int64(30)
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = "ClusterFirst"
	}
	for i := range s.InitContainers {
		defaultContainer(&s.InitContainers[i])
	}
	for i := range s.Containers {
		defaultContainer(&s.Containers[i])
	}
	// With the host's network a container's port is a host port, as in
	// Kubernetes: the scheduler then sees it in host-port conflicts.
	if s.HostNetwork {
		for _, cs := range [][]Container{s.InitContainers, s.Containers} {
			for i := range cs {
				for j := range cs[i].Ports {
					if p := &cs[i].Ports[j]; p.HostPort == 0 {
						p.HostPort = p.ContainerPort
					}
				}
			}
		}
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = Int32Ptr(DefaultConfigMapMode)
		}
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			v.Secret.DefaultMode = Int32Ptr(DefaultSecretMode)
		}
	}
}

// Int32Ptr returns a pointer to v.
func Int32Ptr(v int32) *int32 { return &v }

func defaultContainer(c *Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = PullIfNotPresent
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = PullAlways
		}
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = "TCP"
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == nil {
			continue
		}
		if p.TimeoutSeconds == 0 {
			p.TimeoutSeconds = 1
		}
		if p.PeriodSeconds == 0 {
			p.PeriodSeconds = 10
		}
		if p.SuccessThreshold == 0 {
			p.SuccessThreshold = 1
		}
		if p.FailureThreshold == 0 {
			p.FailureThreshold = 3
		}
		if p.HTTPGet != nil {
			if p.HTTPGet.Path == "" {
				p.HTTPGet.Path = "/"
			}
			if p.HTTPGet.Scheme == "" {
				p.HTTPGet.Scheme = "HTTP"
			}
		}
	}
}

// imageTag returns the tag of an image reference, "latest" when none is given
// and "" when it is pinned by digest.
func imageTag(ref string) string {
	if strings.Contains(ref, "@") {
		return ""
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return "latest"
}

func defaultJob(j *Job) {
	DefaultPodSpec(&j.Spec.Template.Spec)
	if j.Spec.Parallelism == nil {
		j.Spec.Parallelism = Int32(1)
	}
	if j.Spec.Completions == nil && (j.Spec.Parallelism == nil || *j.Spec.Parallelism == 1) {
		j.Spec.Completions = Int32(1)
	}
	if j.Spec.BackoffLimit == nil {
		j.Spec.BackoffLimit = Int32(6)
	}
	if j.Spec.CompletionMode == "" {
		j.Spec.CompletionMode = CompletionModeNonIndexed
	}
	if j.Spec.Suspend == nil {
		j.Spec.Suspend = Bool(false)
	}
}

// DefaultIdentity fills what depends on an object's uid, once it has one: a
// Job's generated selector and the matching labels of its pod template.
func DefaultIdentity(o Object) {
	j, ok := o.(*Job)
	if !ok || j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	for _, kv := range [][2]string{{LabelControllerUID, j.UID}, {LabelBatchControllerUID, j.UID},
		{LabelJobName, j.Name}, {LabelBatchJobName, j.Name}} {
		j.Spec.Template.Labels[kv[0]] = kv[1]
	}
	if j.Spec.Selector == nil {
		j.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{LabelBatchControllerUID: j.UID}}
	}
}

func defaultDaemonSet(d *DaemonSet) {
	defaultTemplate(&d.Spec.Template, &d.Spec.Selector)
	if d.Spec.UpdateStrategy.Type == "" {
		d.Spec.UpdateStrategy.Type = RollingUpdateStrategy
	}
	if d.Spec.UpdateStrategy.Type == RollingUpdateStrategy {
		if d.Spec.UpdateStrategy.RollingUpdate == nil {
			d.Spec.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		ru := d.Spec.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			v := FromInt(1)
			ru.MaxUnavailable = &v
		}
		if ru.MaxSurge == nil {
			v := FromInt(0)
			ru.MaxSurge = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		d.Spec.RevisionHistoryLimit = Int32(10)
	}
}

func defaultService(s *Service) {
	if s.Spec.Type == "" {
		s.Spec.Type = ServiceTypeClusterIP
	}
	if s.Spec.SessionAffinity == "" {
		s.Spec.SessionAffinity = AffinityNone
	}
	if s.Spec.Type == ServiceTypeExternalName {
		return
	}
	for i := range s.Spec.Ports {
		p := &s.Spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = "TCP"
		}
		if p.TargetPort == (IntOrString{}) {
			p.TargetPort = FromInt(p.Port)
		}
	}
	if s.Spec.ClusterIP != "" && len(s.Spec.ClusterIPs) == 0 {
		s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
	}
}
