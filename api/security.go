package api

import (
	"fmt"
	"regexp"
	"strings"
)

// Pod Security admission: the namespace labels that choose a level, and the
// levels (Kubernetes' Pod Security Standards).
const (
	LabelPodSecurityEnforce        = "pod-security.kubernetes.io/enforce"
	LabelPodSecurityEnforceVersion = "pod-security.kubernetes.io/enforce-version"
	LabelPodSecurityWarn           = "pod-security.kubernetes.io/warn"
	LabelPodSecurityWarnVersion    = "pod-security.kubernetes.io/warn-version"
	LabelPodSecurityAudit          = "pod-security.kubernetes.io/audit"
	LabelPodSecurityAuditVersion   = "pod-security.kubernetes.io/audit-version"

	PodSecurityPrivileged = "privileged"
	PodSecurityBaseline   = "baseline"
	PodSecurityRestricted = "restricted"
)

// LinuxCapabilities are the capability names a securityContext may add or
// drop (without the CAP_ prefix), besides ALL.
var LinuxCapabilities = []string{
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE", "CHOWN",
	"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE",
	"LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYSLOG",
	"SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT", "SYS_PTRACE",
	"SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "WAKE_ALARM",
}

// CapabilityName is a capability's name in upper case without the optional
// CAP_ prefix: Kubernetes manifests name capabilities without it, Docker's
// documentation often with it, and runtimes take any case (the Sock Shop
// drops "all").
func CapabilityName(c string) string { return strings.TrimPrefix(strings.ToUpper(c), "CAP_") }

func isCapability(c string) bool {
	c = CapabilityName(c)
	if c == "ALL" {
		return true
	}
	for _, k := range LinuxCapabilities {
		if c == k {
			return true
		}
	}
	return false
}

// IsNamespacedSysctl reports whether a sysctl belongs to a namespace a pod
// owns (IPC or network), the only ones a pod may set: the rest would change
// the whole host.
func IsNamespacedSysctl(name string) (namespace string, ok bool) {
	switch {
	case name == "kernel.sem", strings.HasPrefix(name, "kernel.shm"), strings.HasPrefix(name, "kernel.msg"),
		strings.HasPrefix(name, "fs.mqueue."):
		return "ipc", true
	case strings.HasPrefix(name, "net."):
		return "net", true
	}
	return "", false
}

var sysctlNameRE = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

const maxID = 2147483647

func validateID(e *errs, p path, v *int64) {
	if v != nil && (*v < 0 || *v > maxID) {
		e.invalid(p, *v, fmt.Sprintf("must be between 0 and %d, inclusive", maxID))
	}
}

func validateSeccomp(e *errs, p path, s *SeccompProfile) {
	if s == nil {
		return
	}
	switch s.Type {
	case SeccompRuntimeDefault, SeccompUnconfined:
		if s.LocalhostProfile != nil {
			e.invalid(p.child("localhostProfile"), *s.LocalhostProfile, "can only be set for type Localhost")
		}
	case SeccompLocalhost:
		if s.LocalhostProfile == nil || *s.LocalhostProfile == "" {
			e.required(p.child("localhostProfile"), "type Localhost needs the profile's file, relative to <data-dir>/seccomp")
		} else {
			validateLocalPath(e, p.child("localhostProfile"), *s.LocalhostProfile)
		}
	case "":
		e.required(p.child("type"), "one of RuntimeDefault, Unconfined or Localhost")
	default:
		e.notSupported(p.child("type"), s.Type, SeccompRuntimeDefault, SeccompUnconfined, SeccompLocalhost)
	}
}

func validatePodSecurityContext(e *errs, s *PodSpec, p path) {
	sc := s.SecurityContext
	if sc == nil {
		return
	}
	p = p.child("securityContext")
	validateID(e, p.child("runAsUser"), sc.RunAsUser)
	validateID(e, p.child("runAsGroup"), sc.RunAsGroup)
	validateID(e, p.child("fsGroup"), sc.FSGroup)
	for i := range sc.SupplementalGroups {
		validateID(e, p.child("supplementalGroups").index(i), &sc.SupplementalGroups[i])
	}
	validateSeccomp(e, p.child("seccompProfile"), sc.SeccompProfile)
	seen := map[string]bool{}
	for i, sy := range sc.Sysctls {
		sp := p.child("sysctls").index(i)
		if len(sy.Name) > 253 || !sysctlNameRE.MatchString(sy.Name) {
			e.invalid(sp.child("name"), sy.Name, "must be a sysctl name such as net.ipv4.ip_local_port_range")
			continue
		}
		if seen[sy.Name] {
			e.duplicate(sp.child("name"), sy.Name)
		}
		seen[sy.Name] = true
		ns, ok := IsNamespacedSysctl(sy.Name)
		switch {
		case !ok:
			e.forbidden(sp.child("name"), fmt.Sprintf("%s is not namespaced: setting it would change the whole host; a pod may set only kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* and net.*", sy.Name))
		case ns == "net" && s.HostNetwork:
			e.forbidden(sp.child("name"), fmt.Sprintf("%s: net.* sysctls are not allowed with hostNetwork: they would change the host's network", sy.Name))
		case ns == "ipc" && s.HostIPC:
			e.forbidden(sp.child("name"), fmt.Sprintf("%s: IPC sysctls are not allowed with hostIPC: they would change the host's IPC namespace", sy.Name))
		}
	}
}

func validateContainerSecurityContext(e *errs, c *Container, p path) {
	sc := c.SecurityContext
	if sc == nil {
		return
	}
	p = p.child("securityContext")
	validateID(e, p.child("runAsUser"), sc.RunAsUser)
	validateID(e, p.child("runAsGroup"), sc.RunAsGroup)
	validateSeccomp(e, p.child("seccompProfile"), sc.SeccompProfile)
	if pm := sc.ProcMount; pm != nil && *pm != ProcMountDefault && *pm != ProcMountUnmasked {
		e.notSupported(p.child("procMount"), *pm, ProcMountDefault, ProcMountUnmasked)
	}
	noEscalation := sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	if noEscalation && sc.Privileged != nil && *sc.Privileged {
		e.invalid(p, nil, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true")
	}
	if caps := sc.Capabilities; caps != nil {
		for _, l := range []struct {
			name string
			list []string
		}{{"add", caps.Add}, {"drop", caps.Drop}} {
			for i, name := range l.list {
				if !isCapability(name) {
					e.invalid(p.child("capabilities").child(l.name).index(i), name,
						"not a Linux capability; give a name such as NET_ADMIN (any case, CAP_ prefix optional) or ALL")
				}
				if l.name == "add" && noEscalation && CapabilityName(name) == "SYS_ADMIN" {
					e.invalid(p, nil, "cannot set `allowPrivilegeEscalation` to false and `capabilities.add` SYS_ADMIN")
				}
			}
		}
	}
}
