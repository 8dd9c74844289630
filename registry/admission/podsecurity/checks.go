package podsecurity

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/api"
)

// Violation is one field of a pod spec that breaks a level.
type Violation struct {
	// Check is the Kubernetes name of the control, e.g. "privileged".
	Check string
	// Field is the path of the offending field, e.g.
	// spec.containers[0].securityContext.privileged.
	Field string
	// Detail says what is wrong, in Kubernetes' words where it has them.
	Detail string
}

func (v Violation) String() string { return v.Field + ": " + v.Detail }

// MinUnprivilegedHostPort is the lowest host port baseline allows: ports
// below it are the host's privileged ports (ssh, DNS, HTTP), which a pod
// must not take over. Kubernetes' baseline allows a configured list of host
// ports (none by default); shoal allows the unprivileged range, so that
// compose-style "8080:80" publishing keeps working.
const MinUnprivilegedHostPort = 1024

// baselineCapabilities may be added under baseline (Kubernetes' list: the
// engine's default set without NET_RAW).
var baselineCapabilities = []string{"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
	"NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}

// safeSysctls are namespaced and isolated from other pods (Kubernetes 1.32).
var safeSysctls = []string{"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
	"net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes", "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"}

// container is one container of the spec with its field path.
type container struct {
	c    *api.Container
	path string
}

func containers(s *api.PodSpec, prefix string) []container {
	var out []container
	for i := range s.InitContainers {
		out = append(out, container{&s.InitContainers[i], fmt.Sprintf("%s.initContainers[%d]", prefix, i)})
	}
	for i := range s.Containers {
		out = append(out, container{&s.Containers[i], fmt.Sprintf("%s.containers[%d]", prefix, i)})
	}
	return out
}

type check struct {
	name  string
	level Level
	run   func(s *api.PodSpec, prefix string, cs []container) []Violation
}

// checks are Kubernetes' Pod Security Standards controls that apply to the
// fields shoal has (no Windows, AppArmor or SELinux fields), in the order
// the standard lists them.
var checks = []check{
	{"hostNamespaces", Baseline, checkHostNamespaces},
	{"privileged", Baseline, checkPrivileged},
	{"capabilities_baseline", Baseline, checkCapabilitiesBaseline},
	{"hostPathVolumes", Baseline, checkHostPath},
	{"hostPorts", Baseline, checkHostPorts},
	{"procMount", Baseline, checkProcMount},
	{"seccompProfile_baseline", Baseline, checkSeccompBaseline},
	{"sysctls", Baseline, checkSysctls},
	{"restrictedVolumes", Restricted, checkVolumeTypes},
	{"allowPrivilegeEscalation", Restricted, checkPrivilegeEscalation},
	{"runAsNonRoot", Restricted, checkRunAsNonRoot},
	{"runAsUser", Restricted, checkRunAsUser},
	{"seccompProfile_restricted", Restricted, checkSeccompRestricted},
	{"capabilities_restricted", Restricted, checkCapabilitiesRestricted},
}

// Check returns every violation of level by the pod spec s; field paths
// start with prefix ("spec" for a Pod, "spec.template.spec" for a workload).
func Check(level Level, s *api.PodSpec, prefix string) []Violation {
	var out []Violation
	cs := containers(s, prefix)
	for _, c := range checks {
		if c.level > level {
			continue
		}
		for _, v := range c.run(s, prefix, cs) {
			v.Check = c.name
			out = append(out, v)
		}
	}
	return out
}

func checkHostNamespaces(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, f := range []struct {
		name string
		on   bool
	}{{"hostNetwork", s.HostNetwork}, {"hostPID", s.HostPID}, {"hostIPC", s.HostIPC}} {
		if f.on {
			out = append(out, Violation{Field: p + "." + f.name, Detail: f.name + "=true shares the host's namespace"})
		}
	}
	return out
}

func checkPrivileged(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		if sc := c.c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			out = append(out, Violation{Field: c.path + ".securityContext.privileged",
				Detail: fmt.Sprintf("container %q must not set securityContext.privileged=true", c.c.Name)})
		}
	}
	return out
}

func addedCaps(c *api.Container) []string {
	if sc := c.SecurityContext; sc != nil && sc.Capabilities != nil {
		return sc.Capabilities.Add
	}
	return nil
}

func checkCapabilitiesBaseline(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		for i, capName := range addedCaps(c.c) {
			if !slices.Contains(baselineCapabilities, api.CapabilityName(capName)) {
				out = append(out, Violation{Field: fmt.Sprintf("%s.securityContext.capabilities.add[%d]", c.path, i),
					Detail: fmt.Sprintf("container %q must not add capability %s (beyond the engine's default set)", c.c.Name, capName)})
			}
		}
	}
	return out
}

func checkHostPath(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for i, v := range s.Volumes {
		if v.HostPath != nil {
			out = append(out, Violation{Field: fmt.Sprintf("%s.volumes[%d].hostPath", p, i),
				Detail: fmt.Sprintf("volume %q mounts the host path %s", v.Name, v.HostPath.Path)})
		}
	}
	return out
}

func checkHostPorts(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		for i, port := range c.c.Ports {
			if port.HostPort > 0 && port.HostPort < MinUnprivilegedHostPort {
				out = append(out, Violation{Field: fmt.Sprintf("%s.ports[%d].hostPort", c.path, i),
					Detail: fmt.Sprintf("container %q must not use host port %d (below %d)", c.c.Name, port.HostPort, MinUnprivilegedHostPort)})
			}
		}
	}
	return out
}

func checkProcMount(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		if sc := c.c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount != api.ProcMountDefault {
			out = append(out, Violation{Field: c.path + ".securityContext.procMount",
				Detail: fmt.Sprintf("container %q must not set securityContext.procMount=%s", c.c.Name, *sc.ProcMount)})
		}
	}
	return out
}

func containerSeccomp(c *api.Container) *api.SeccompProfile {
	if sc := c.SecurityContext; sc != nil {
		return sc.SeccompProfile
	}
	return nil
}

func podSeccomp(s *api.PodSpec) *api.SeccompProfile {
	if s.SecurityContext != nil {
		return s.SecurityContext.SeccompProfile
	}
	return nil
}

func checkSeccompBaseline(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	if sp := podSeccomp(s); sp != nil && sp.Type == api.SeccompUnconfined {
		out = append(out, Violation{Field: p + ".securityContext.seccompProfile.type",
			Detail: "pod must not set securityContext.seccompProfile.type=Unconfined"})
	}
	for _, c := range cs {
		if sp := containerSeccomp(c.c); sp != nil && sp.Type == api.SeccompUnconfined {
			out = append(out, Violation{Field: c.path + ".securityContext.seccompProfile.type",
				Detail: fmt.Sprintf("container %q must not set securityContext.seccompProfile.type=Unconfined", c.c.Name)})
		}
	}
	return out
}

func checkSysctls(s *api.PodSpec, p string, cs []container) []Violation {
	if s.SecurityContext == nil {
		return nil
	}
	var out []Violation
	for i, sy := range s.SecurityContext.Sysctls {
		if !slices.Contains(safeSysctls, sy.Name) {
			out = append(out, Violation{Field: fmt.Sprintf("%s.securityContext.sysctls[%d].name", p, i),
				Detail: fmt.Sprintf("sysctl %s is not one of the safe sysctls", sy.Name)})
		}
	}
	return out
}

// checkVolumeTypes allows configMap, emptyDir, persistentVolumeClaim and
// secret (and the restricted list's others shoal lacks); hostPath is
// reported by the baseline check already.
func checkVolumeTypes(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for i, v := range s.Volumes {
		if v.HostPath != nil {
			continue
		}
		if v.EmptyDir == nil && v.ConfigMap == nil && v.Secret == nil && v.PersistentVolumeClaim == nil {
			out = append(out, Violation{Field: fmt.Sprintf("%s.volumes[%d]", p, i),
				Detail: fmt.Sprintf("volume %q must be of an allowed type (configMap, emptyDir, persistentVolumeClaim, secret)", v.Name)})
		}
	}
	return out
}

func checkPrivilegeEscalation(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		if sc := c.c.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, Violation{Field: c.path + ".securityContext.allowPrivilegeEscalation",
				Detail: fmt.Sprintf("container %q must set securityContext.allowPrivilegeEscalation=false", c.c.Name)})
		}
	}
	return out
}

// checkRunAsNonRoot: runAsNonRoot=true on the pod, or on every container;
// a container may not turn it off.
func checkRunAsNonRoot(s *api.PodSpec, p string, cs []container) []Violation {
	podTrue := false
	var out []Violation
	if sc := s.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		if !*sc.RunAsNonRoot {
			out = append(out, Violation{Field: p + ".securityContext.runAsNonRoot", Detail: "pod must not set securityContext.runAsNonRoot=false"})
		}
		podTrue = *sc.RunAsNonRoot
	}
	for _, c := range cs {
		sc := c.c.SecurityContext
		switch {
		case sc != nil && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot:
			out = append(out, Violation{Field: c.path + ".securityContext.runAsNonRoot",
				Detail: fmt.Sprintf("container %q must not set securityContext.runAsNonRoot=false", c.c.Name)})
		case sc != nil && sc.RunAsNonRoot != nil:
		case !podTrue:
			out = append(out, Violation{Field: c.path + ".securityContext.runAsNonRoot",
				Detail: fmt.Sprintf("pod or container %q must set securityContext.runAsNonRoot=true", c.c.Name)})
		}
	}
	return out
}

func checkRunAsUser(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	if sc := s.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
		out = append(out, Violation{Field: p + ".securityContext.runAsUser", Detail: "pod must not set runAsUser=0"})
	}
	for _, c := range cs {
		if sc := c.c.SecurityContext; sc != nil && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			out = append(out, Violation{Field: c.path + ".securityContext.runAsUser",
				Detail: fmt.Sprintf("container %q must not set runAsUser=0", c.c.Name)})
		}
	}
	return out
}

func confined(sp *api.SeccompProfile) bool {
	return sp != nil && (sp.Type == api.SeccompRuntimeDefault || sp.Type == api.SeccompLocalhost)
}

// checkSeccompRestricted: RuntimeDefault or Localhost on the pod, or on
// every container (Unconfined is reported by the baseline check).
func checkSeccompRestricted(s *api.PodSpec, p string, cs []container) []Violation {
	podSet := confined(podSeccomp(s))
	var out []Violation
	for _, c := range cs {
		sp := containerSeccomp(c.c)
		if confined(sp) || sp != nil && sp.Type == api.SeccompUnconfined || sp == nil && podSet {
			continue
		}
		out = append(out, Violation{Field: c.path + ".securityContext.seccompProfile.type",
			Detail: fmt.Sprintf("pod or container %q must set securityContext.seccompProfile.type to RuntimeDefault or Localhost", c.c.Name)})
	}
	return out
}

func checkCapabilitiesRestricted(s *api.PodSpec, p string, cs []container) []Violation {
	var out []Violation
	for _, c := range cs {
		var drop []string
		if sc := c.c.SecurityContext; sc != nil && sc.Capabilities != nil {
			drop = sc.Capabilities.Drop
		}
		if !slices.ContainsFunc(drop, func(d string) bool { return strings.EqualFold(api.CapabilityName(d), "ALL") }) {
			out = append(out, Violation{Field: c.path + ".securityContext.capabilities.drop",
				Detail: fmt.Sprintf("container %q must set securityContext.capabilities.drop=[\"ALL\"]", c.c.Name)})
		}
		for i, capName := range addedCaps(c.c) {
			if n := api.CapabilityName(capName); n != "NET_BIND_SERVICE" && slices.Contains(baselineCapabilities, n) {
				// Capabilities beyond the default set are reported by the baseline check.
				out = append(out, Violation{Field: fmt.Sprintf("%s.securityContext.capabilities.add[%d]", c.path, i),
					Detail: fmt.Sprintf("container %q must not add capability %s (only NET_BIND_SERVICE)", c.c.Name, capName)})
			}
		}
	}
	return out
}
