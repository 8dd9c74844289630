package compose

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/shoal-dev/shoal/api"
)

// podTemplate builds the pod of a service: one container, its volumes,
// probes, security and placement.
func (c *converter) podTemplate(s *types.ServiceConfig) api.PodTemplateSpec {
	name := c.names[s.Name]
	m := c.meta("", s.Name)
	m.Namespace = ""
	if len(s.Labels) > 0 {
		m.Annotations = jsonAnnotation(m.Annotations, AnnotationLabels, s.Labels)
	}
	if len(s.Annotations) > 0 {
		m.Annotations = c.annotations(s.Name, "annotations", m.Annotations, s.Annotations)
	}
	ctr := api.Container{
		Name:       name,
		Image:      s.Image,
		Command:    []string(s.Entrypoint),
		Args:       []string(s.Command),
		WorkingDir: s.WorkingDir,
		Stdin:      s.StdinOpen,
		TTY:        s.Tty,
	}
	if ctr.Image == "" {
		ctr.Image = c.ns + "-" + name
	}
	ctr.ImagePullPolicy = c.pullPolicy(s)
	if s.Build != nil && ctr.ImagePullPolicy != api.PullAlways {
		// Built by up on the command's host, not in any registry: a host
		// without it gets it from a host that has it.
		ctr.ImagePullPolicy = api.PullIfNotPresent
	}
	ctr.Env = env(s.Environment)
	ctr.Resources = c.resources(s)
	ctr.Ports = c.containerPorts(s)
	// A compose container knows nothing of the cluster's API, as under
	// docker compose: no service-account token, no KUBERNETES_* variables.
	spec := api.PodSpec{AutomountServiceAccountToken: api.Bool(false)}
	c.security(s, &spec, &ctr)
	c.volumes(s, &spec, &ctr)
	c.mountFiles(s, &spec, &ctr)
	c.probes(s, &ctr)
	c.placement(s, &spec)
	if s.Hostname != "" {
		if errs := api.IsDNS1123Label(s.Hostname); len(errs) > 0 {
			c.warn(s.Name, "hostname", "%q not kept: %s", s.Hostname, strings.Join(errs, "; "))
		} else {
			spec.Hostname = s.Hostname
		}
	}
	if s.StopGracePeriod != nil {
		spec.TerminationGracePeriodSeconds = api.Int64(int64(seconds(*s.StopGracePeriod)))
	}
	if sig := strings.ToUpper(strings.TrimPrefix(strings.ToUpper(s.StopSignal), "SIG")); sig != "" && sig != "TERM" && sig != "15" {
		c.warn(s.Name, "stop_signal", "%s not honoured: shoal stops containers with SIGTERM, then SIGKILL", s.StopSignal)
	}
	switch mode := s.NetworkMode; {
	case mode == "" || mode == "bridge" || mode == "default":
	case mode == "host":
		spec.HostNetwork = true
		c.needsPrivileged(s.Name, "network_mode host")
	case mode == "none":
		c.refuse(s.Name, "network_mode", "none: every pod is on the pod network")
	default:
		c.refuse(s.Name, "network_mode", "%q: a pod cannot join another service's or container's network", mode)
	}
	switch {
	case s.Ipc == "host":
		spec.HostIPC = true
		c.needsPrivileged(s.Name, "ipc host")
	case strings.HasPrefix(s.Ipc, "service:") || strings.HasPrefix(s.Ipc, "container:"):
		c.refuse(s.Name, "ipc", "%q: a pod cannot join another service's IPC namespace", s.Ipc)
	}
	switch {
	case s.Pid == "host":
		spec.HostPID = true
		c.needsPrivileged(s.Name, "pid host")
	case s.Pid != "":
		c.refuse(s.Name, "pid", "%q: a pod cannot join another service's PID namespace", s.Pid)
	}
	if s.Uts != "" {
		c.refuse(s.Name, "uts", "%q: no host UTS namespace in shoal's pod spec", s.Uts)
	}
	spec.Containers = []api.Container{ctr}
	return api.PodTemplateSpec{ObjectMeta: m, Spec: spec}
}

// env keeps compose's literal values literal: Kubernetes expands $(VAR)
// in env values, compose does not.
func env(e types.MappingWithEquals) []api.EnvVar {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []api.EnvVar
	for _, k := range keys {
		v := e[k]
		if v == nil {
			continue // unset, as docker compose leaves it
		}
		out = append(out, api.EnvVar{Name: k, Value: strings.ReplaceAll(*v, "$(", "$$(")})
	}
	return out
}

func (c *converter) pullPolicy(s *types.ServiceConfig) string {
	switch p := s.PullPolicy; {
	case p == "":
		return ""
	case p == types.PullPolicyAlways:
		return api.PullAlways
	case p == types.PullPolicyNever:
		return api.PullNever
	case p == types.PullPolicyBuild:
		return api.PullIfNotPresent
	case p == types.PullPolicyMissing, p == types.PullPolicyIfNotPresent:
		return api.PullIfNotPresent
	default:
		c.warn(s.Name, "pull_policy", "%q not honoured: the image is pulled when missing", p)
		return api.PullIfNotPresent
	}
}

func (c *converter) resources(s *types.ServiceConfig) api.ResourceRequirements {
	var r api.ResourceRequirements
	set := func(l *api.ResourceList, name string, q api.Quantity) {
		if *l == nil {
			*l = api.ResourceList{}
		}
		(*l)[name] = q
	}
	if s.CPUS > 0 {
		set(&r.Limits, api.ResourceCPU, api.NewMilliQuantity(int64(math.Ceil(float64(s.CPUS)*1000))))
	}
	if s.MemLimit > 0 {
		set(&r.Limits, api.ResourceMemory, api.NewBytesQuantity(int64(s.MemLimit)))
	}
	if s.MemReservation > 0 {
		set(&r.Requests, api.ResourceMemory, api.NewBytesQuantity(int64(s.MemReservation)))
	}
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.NanoCPUs > 0 {
				set(&r.Limits, api.ResourceCPU, api.NewMilliQuantity(int64(math.Ceil(float64(l.NanoCPUs.Value())*1000))))
			}
			if l.MemoryBytes > 0 {
				set(&r.Limits, api.ResourceMemory, api.NewBytesQuantity(int64(l.MemoryBytes)))
			}
		}
		if q := s.Deploy.Resources.Reservations; q != nil {
			if q.NanoCPUs > 0 {
				set(&r.Requests, api.ResourceCPU, api.NewMilliQuantity(int64(math.Ceil(float64(q.NanoCPUs.Value())*1000))))
			}
			if q.MemoryBytes > 0 {
				set(&r.Requests, api.ResourceMemory, api.NewBytesQuantity(int64(q.MemoryBytes)))
			}
		}
	}
	return r
}

// published tells how a compose port is published: not at all, on every
// node (a NodePort), or on the pod's host (a hostPort).
func published(p types.ServicePortConfig) (port int32, nodePort bool, err error) {
	if p.Published == "" {
		return 0, false, nil
	}
	n, perr := strconv.ParseUint(p.Published, 10, 16)
	if perr != nil || n == 0 {
		return 0, false, fmt.Errorf("%q: a published port is one number from 1 to 65535 (ranges are not supported)", p.Published)
	}
	inRange := n >= api.NodePortMin && n <= api.NodePortMax
	return int32(n), p.Mode != "host" && inRange, nil
}

func protocol(p string) string {
	switch strings.ToLower(p) {
	case "", "tcp":
		return "TCP"
	case "udp":
		return "UDP"
	case "sctp":
		return "SCTP"
	}
	return strings.ToUpper(p)
}

func (c *converter) containerPorts(s *types.ServiceConfig) []api.ContainerPort {
	type key struct {
		port, host int32
		proto      string
	}
	seen := map[key]bool{}
	var out []api.ContainerPort
	add := func(cp api.ContainerPort) {
		k := key{cp.ContainerPort, cp.HostPort, cp.Protocol}
		if !seen[k] {
			seen[k] = true
			out = append(out, cp)
		}
	}
	for _, e := range s.Expose {
		port, proto, _ := strings.Cut(e, "/")
		lo, hi, isRange := strings.Cut(port, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || a == 0 || b < a || b-a > 1000 {
			c.refuse(s.Name, "expose", "%q is not a port or a range of at most 1000 ports", e)
			continue
		}
		for n := a; n <= b; n++ {
			add(api.ContainerPort{ContainerPort: int32(n), Protocol: protocol(proto)})
		}
	}
	for i, p := range s.Ports {
		if p.Target == 0 || p.Target > 65535 {
			c.refuse(s.Name, fmt.Sprintf("ports[%d]", i), "%s: the target port must be from 1 to 65535", fmtPort(p))
			continue
		}
		cp := api.ContainerPort{ContainerPort: int32(p.Target), Protocol: protocol(p.Protocol), Name: portName(p.Name)}
		n, nodePort, err := published(p)
		switch {
		case err != nil:
			c.refuse(s.Name, fmt.Sprintf("ports[%d]", i), "%v", err)
			continue
		case n == 0 || nodePort:
			if nodePort && p.HostIP != "" {
				c.warn(s.Name, fmt.Sprintf("ports[%d].host_ip", i), "%s not honoured: a port published on every host listens on every address", p.HostIP)
			}
		default:
			if p.Mode != "host" {
				c.warn(s.Name, fmt.Sprintf("ports[%d]", i), "%s is published only on the hosts that run the service's pods (as mode: host): shoal publishes on every host through node ports, %d-%d only", fmtPort(p), api.NodePortMin, api.NodePortMax)
			}
			cp.HostPort, cp.HostIP = n, p.HostIP
			if n < 1024 {
				c.needsPrivileged(s.Name, fmt.Sprintf("host port %d", n))
			}
		}
		add(cp)
	}
	return out
}

// portName keeps a compose port name when Kubernetes can hold it.
func portName(n string) string {
	if n == "" || len(n) > 15 || len(api.IsDNS1123Label(n)) > 0 {
		return ""
	}
	return n
}

func (c *converter) security(s *types.ServiceConfig, spec *api.PodSpec, ctr *api.Container) {
	sc := &api.SecurityContext{}
	psc := &api.PodSecurityContext{}
	if s.Privileged {
		sc.Privileged = api.Bool(true)
		c.needsPrivileged(s.Name, "privileged")
	}
	if s.ReadOnly {
		sc.ReadOnlyRootFilesystem = api.Bool(true)
	}
	if len(s.CapAdd) > 0 || len(s.CapDrop) > 0 {
		sc.Capabilities = &api.Capabilities{}
		for _, cp := range s.CapAdd {
			cp = api.CapabilityName(strings.ToUpper(cp))
			sc.Capabilities.Add = append(sc.Capabilities.Add, cp)
			if !baselineCaps[cp] {
				c.needsPrivileged(s.Name, "cap_add "+cp)
			}
		}
		for _, cp := range s.CapDrop {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, api.CapabilityName(strings.ToUpper(cp)))
		}
	}
	if s.User != "" {
		u, g, hasGroup := strings.Cut(s.User, ":")
		if n, err := strconv.ParseInt(u, 10, 64); err == nil {
			sc.RunAsUser = api.Int64(n)
		} else {
			c.warn(s.Name, "user", "%q not honoured: only numeric users can be set (the image's user runs)", s.User)
		}
		if hasGroup {
			if n, err := strconv.ParseInt(g, 10, 64); err == nil {
				sc.RunAsGroup = api.Int64(n)
			} else {
				c.warn(s.Name, "user", "group %q not honoured: only numeric groups can be set", g)
			}
		}
	}
	for _, g := range s.GroupAdd {
		if n, err := strconv.ParseInt(g, 10, 64); err == nil {
			psc.SupplementalGroups = append(psc.SupplementalGroups, n)
		} else {
			c.warn(s.Name, "group_add", "group %q not honoured: only numeric groups can be added", g)
		}
	}
	for _, opt := range s.SecurityOpt {
		k, v, _ := strings.Cut(strings.Replace(opt, "=", ":", 1), ":")
		switch {
		case k == "no-new-privileges" && (v == "" || v == "true"):
			sc.AllowPrivilegeEscalation = api.Bool(false)
		case k == "no-new-privileges" && v == "false":
			sc.AllowPrivilegeEscalation = api.Bool(true)
		case k == "seccomp" && v == "unconfined":
			sc.SeccompProfile = &api.SeccompProfile{Type: api.SeccompUnconfined}
			c.needsPrivileged(s.Name, "security_opt seccomp:unconfined")
		default:
			c.warn(s.Name, "security_opt", "%q not honoured", opt)
		}
	}
	keys := make([]string, 0, len(s.Sysctls))
	for k := range s.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := api.IsNamespacedSysctl(k); !ok {
			c.warn(s.Name, "sysctls", "%s not honoured: only namespaced sysctls (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*) belong to a pod", k)
			continue
		}
		psc.Sysctls = append(psc.Sysctls, api.Sysctl{Name: k, Value: s.Sysctls[k]})
		if !baselineSysctls[k] {
			c.needsPrivileged(s.Name, "sysctl "+k)
		}
	}
	if *sc != (api.SecurityContext{}) {
		ctr.SecurityContext = sc
	}
	if len(psc.SupplementalGroups) > 0 || len(psc.Sysctls) > 0 {
		spec.SecurityContext = psc
	}
}

// probes map a healthcheck onto liveness and readiness probes (and a
// startup probe for start_period).
func (c *converter) probes(s *types.ServiceConfig, ctr *api.Container) {
	h := s.HealthCheck
	if h == nil || h.Disable || len(h.Test) == 0 {
		return
	}
	var cmd []string
	switch h.Test[0] {
	case "NONE":
		return
	case "CMD":
		cmd = h.Test[1:]
	case "CMD-SHELL":
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test[1:], " ")}
	default:
		cmd = []string{"/bin/sh", "-c", strings.Join(h.Test, " ")}
	}
	if len(cmd) == 0 {
		c.refuse(s.Name, "healthcheck.test", "CMD without a command")
		return
	}
	d := func(p *types.Duration, def int32) int32 {
		if p == nil || *p == 0 {
			return def
		}
		return max(seconds(*p), 1)
	}
	retries := int32(3)
	if h.Retries != nil {
		retries = int32(min(max(*h.Retries, 1), 1<<20))
	}
	probe := func() *api.Probe {
		return &api.Probe{Exec: &api.ExecAction{Command: append([]string(nil), cmd...)},
			PeriodSeconds: d(h.Interval, 30), TimeoutSeconds: d(h.Timeout, 30), FailureThreshold: retries, SuccessThreshold: 1}
	}
	ctr.LivenessProbe = probe()
	ctr.ReadinessProbe = probe()
	if h.StartPeriod != nil && *h.StartPeriod > 0 {
		sp := probe()
		sp.PeriodSeconds = d(h.StartInterval, 5)
		sp.FailureThreshold = max((seconds(*h.StartPeriod)+sp.PeriodSeconds-1)/sp.PeriodSeconds, 1) + retries
		ctr.StartupProbe = sp
	}
}

// placement maps constraints onto a nodeSelector (==) and required node
// affinity (!=, NotIn: as under Swarm, a node without the label holds).
func (c *converter) placement(s *types.ServiceConfig, spec *api.PodSpec) {
	sel := map[string]string{}
	var not []api.NodeSelectorRequirement
	if s.Platform != "" {
		os, arch, _ := strings.Cut(s.Platform, "/")
		if os != "linux" {
			c.refuse(s.Name, "platform", "%q: shoal runs Linux containers", s.Platform)
		} else {
			sel[api.LabelOS] = "linux"
			if arch != "" {
				arch, _, _ = strings.Cut(arch, "/") // linux/arm/v7: the variant is the image's business
				sel[api.LabelArch] = goArch(arch)
			}
		}
	}
	if s.Deploy != nil {
		for _, con := range s.Deploy.Placement.Constraints {
			c.constraint(s.Name, con, sel, &not)
		}
	}
	if len(sel) > 0 {
		spec.NodeSelector = sel
	}
	if len(not) > 0 {
		spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &api.NodeSelector{
			NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: not}}}}}
	}
	if s.Deploy != nil {
		c.spread(s, spec)
	}
}

// spreadEverywhere is a minDomains no cluster reaches: with fewer domains
// than it, the scheduler takes the least count of a domain as 0, which
// turns maxSkew into a per-node cap.
const spreadEverywhere = math.MaxInt32

// spread maps Swarm's placement preferences and max_replicas_per_node onto
// topology spread constraints over the service's own pods.
func (c *converter) spread(s *types.ServiceConfig, spec *api.PodSpec) {
	own := func() *api.LabelSelector {
		return &api.LabelSelector{MatchLabels: map[string]string{LabelProject: c.ns, LabelService: c.names[s.Name]}}
	}
	const prefKey = "deploy.placement.preferences"
	seen := map[string]bool{}
	for _, p := range s.Deploy.Placement.Preferences {
		var label string
		switch {
		case p.Spread == "node.hostname":
			label = api.LabelHostname
		case strings.HasPrefix(p.Spread, "node.labels."):
			label = strings.TrimPrefix(p.Spread, "node.labels.")
		default:
			c.refuse(s.Name, prefKey, "spread %q: shoal spreads over node.labels.K or node.hostname", p.Spread)
			continue
		}
		if errs := api.IsQualifiedName(label); len(errs) > 0 {
			c.refuse(s.Name, prefKey, "spread %q: %s", p.Spread, strings.Join(errs, "; "))
			continue
		}
		if seen[label] {
			continue
		}
		seen[label] = true
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, api.TopologySpreadConstraint{
			MaxSkew: 1, TopologyKey: label, WhenUnsatisfiable: api.ScheduleAnyway, LabelSelector: own()})
	}
	if n := s.Deploy.Placement.MaxReplicas; n > 0 {
		if n > math.MaxInt32 {
			c.refuse(s.Name, "deploy.placement.max_replicas_per_node", "%d: at most %d", n, math.MaxInt32)
			return
		}
		spec.TopologySpreadConstraints = append(spec.TopologySpreadConstraints, api.TopologySpreadConstraint{
			MaxSkew: int32(n), TopologyKey: api.LabelHostname, WhenUnsatisfiable: api.DoNotSchedule,
			MinDomains: api.Int32(spreadEverywhere), LabelSelector: own()})
	}
}

// goArch names an architecture as Kubernetes node labels do.
func goArch(a string) string {
	switch a {
	case "x86_64", "x86-64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

func (c *converter) constraint(svc, con string, sel map[string]string, not *[]api.NodeSelectorRequirement) {
	const key = "deploy.placement.constraints"
	op := "=="
	l, r, ok := strings.Cut(con, "==")
	if !ok {
		op = "!="
		if l, r, ok = strings.Cut(con, "!="); !ok {
			c.refuse(svc, key, "%q: a constraint is `attribute == value` or `attribute != value`", con)
			return
		}
	}
	l, r = strings.TrimSpace(l), strings.TrimSpace(r)
	var label string
	switch {
	case l == "node.role":
		if op == "==" && (r == "manager" || r == "worker") {
			c.warn(svc, key, "%q holds on every shoal node: each agent both takes writes and runs pods", con)
		} else {
			c.refuse(svc, key, "%q: every shoal node is both a manager and a worker", con)
		}
		return
	case l == "node.hostname":
		label = api.LabelHostname
	case strings.HasPrefix(l, "node.labels."):
		label = strings.TrimPrefix(l, "node.labels.")
	case l == "node.platform.os":
		label = api.LabelOS
	case l == "node.platform.arch":
		label, r = api.LabelArch, goArch(r)
	default:
		c.refuse(svc, key, "%q: shoal can place by node.hostname, node.labels.*, node.platform.os and node.platform.arch", con)
		return
	}
	if errs := append(api.IsQualifiedName(label), api.IsValidLabelValue(r)...); len(errs) > 0 {
		c.refuse(svc, key, "%q: %s", con, strings.Join(errs, "; "))
		return
	}
	if op == "!=" {
		*not = append(*not, api.NodeSelectorRequirement{Key: label, Operator: "NotIn", Values: []string{r}})
		return
	}
	if prev, ok := sel[label]; ok && prev != r {
		c.refuse(svc, key, "%q contradicts another constraint (%s == %s): no node can satisfy both", con, label, prev)
		return
	}
	sel[label] = r
}

// mountPath makes a compose target absolute, as the engine does.
func mountPath(t string) string {
	if path.IsAbs(t) {
		return path.Clean(t)
	}
	return path.Join("/", t)
}

// baselineCaps are the capabilities Pod Security's baseline lets a
// container add.
var baselineCaps = map[string]bool{"AUDIT_WRITE": true, "CHOWN": true, "DAC_OVERRIDE": true, "FOWNER": true, "FSETID": true,
	"KILL": true, "MKNOD": true, "NET_BIND_SERVICE": true, "SETFCAP": true, "SETGID": true, "SETPCAP": true, "SETUID": true, "SYS_CHROOT": true}

// baselineSysctls are the sysctls Pod Security's baseline allows.
var baselineSysctls = map[string]bool{"kernel.shm_rmid_forced": true, "net.ipv4.ip_local_port_range": true,
	"net.ipv4.ip_unprivileged_port_start": true, "net.ipv4.tcp_syncookies": true, "net.ipv4.ping_group_range": true,
	"net.ipv4.ip_local_reserved_ports": true, "net.ipv4.tcp_keepalive_time": true, "net.ipv4.tcp_fin_timeout": true,
	"net.ipv4.tcp_keepalive_intvl": true, "net.ipv4.tcp_keepalive_probes": true, "net.ipv4.tcp_rmem": true, "net.ipv4.tcp_wmem": true}

func (c *converter) needsPrivileged(svc, what string) {
	c.privileged = append(c.privileged, privilegeNeed{svc, what})
}
