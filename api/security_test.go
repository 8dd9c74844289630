package api

import "testing"

func TestSecurityContextValidationNamesTheField(t *testing.T) {
	tr, fa := true, false
	unmasked, bogus := ProcMountUnmasked, "Weird"
	prof, escape := "profiles/audit.json", "../../etc/passwd"
	cases := []struct {
		name   string
		mutate func(s *PodSpec)
		field  string // "" when valid
	}{
		{"a full valid context", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{RunAsUser: Int64(1000), RunAsGroup: Int64(1000), RunAsNonRoot: &tr,
				FSGroup: Int64(2000), SupplementalGroups: []int64{3000}, SeccompProfile: &SeccompProfile{Type: SeccompRuntimeDefault},
				Sysctls: []Sysctl{{Name: "net.ipv4.ip_local_port_range", Value: "1024 65000"}, {Name: "kernel.shm_rmid_forced", Value: "1"}}}
			s.Containers[0].SecurityContext = &SecurityContext{AllowPrivilegeEscalation: &fa, ReadOnlyRootFilesystem: &tr,
				Capabilities:   &Capabilities{Drop: []string{"ALL"}, Add: []string{"NET_BIND_SERVICE", "CAP_CHOWN"}},
				SeccompProfile: &SeccompProfile{Type: SeccompLocalhost, LocalhostProfile: &prof}, ProcMount: &unmasked}
		}, ""},
		{"negative user", func(s *PodSpec) { s.SecurityContext = &PodSecurityContext{RunAsUser: Int64(-1)} }, "spec.securityContext.runAsUser"},
		{"huge group", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{RunAsGroup: Int64(1 << 40)}
		}, "spec.containers[0].securityContext.runAsGroup"},
		{"negative supplemental group", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{SupplementalGroups: []int64{1, -5}}
		}, "spec.securityContext.supplementalGroups[1]"},
		{"privileged without escalation", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{Privileged: &tr, AllowPrivilegeEscalation: &fa}
		}, "spec.containers[0].securityContext"},
		{"SYS_ADMIN without escalation", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{AllowPrivilegeEscalation: &fa, Capabilities: &Capabilities{Add: []string{"CAP_SYS_ADMIN"}}}
		}, "spec.containers[0].securityContext"},
		{"unknown capability", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{Capabilities: &Capabilities{Drop: []string{"KILL", "net_adminx"}}}
		}, "spec.containers[0].securityContext.capabilities.drop[1]"},
		{"procMount", func(s *PodSpec) {
			s.InitContainers = []Container{{Name: "init", Image: "i", ImagePullPolicy: PullIfNotPresent, SecurityContext: &SecurityContext{ProcMount: &bogus}}}
		}, "spec.initContainers[0].securityContext.procMount"},
		{"seccomp type", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{SeccompProfile: &SeccompProfile{Type: "Off"}}
		}, "spec.securityContext.seccompProfile.type"},
		{"seccomp localhost without file", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompLocalhost}}
		}, "spec.securityContext.seccompProfile.localhostProfile"},
		{"seccomp localhost escapes", func(s *PodSpec) {
			s.Containers[0].SecurityContext = &SecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompLocalhost, LocalhostProfile: &escape}}
		}, "spec.containers[0].securityContext.seccompProfile.localhostProfile"},
		{"seccomp file for another type", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{SeccompProfile: &SeccompProfile{Type: SeccompUnconfined, LocalhostProfile: &prof}}
		}, "spec.securityContext.seccompProfile.localhostProfile"},
		{"sysctl name", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{Sysctls: []Sysctl{{Name: "net/../x", Value: "1"}}}
		}, "spec.securityContext.sysctls[0].name"},
		{"host-wide sysctl", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{Sysctls: []Sysctl{{Name: "kernel.panic", Value: "1"}}}
		}, "spec.securityContext.sysctls[0].name"},
		{"duplicate sysctl", func(s *PodSpec) {
			s.SecurityContext = &PodSecurityContext{Sysctls: []Sysctl{{Name: "kernel.sem", Value: "1"}, {Name: "kernel.sem", Value: "2"}}}
		}, "spec.securityContext.sysctls[1].name"},
		{"net sysctl with the host network", func(s *PodSpec) {
			s.HostNetwork = true
			s.SecurityContext = &PodSecurityContext{Sysctls: []Sysctl{{Name: "net.ipv4.tcp_syncookies", Value: "1"}}}
		}, "spec.securityContext.sysctls[0].name"},
		{"ipc sysctl with the host IPC", func(s *PodSpec) {
			s.HostIPC = true
			s.SecurityContext = &PodSecurityContext{Sysctls: []Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}}}
		}, "spec.securityContext.sysctls[0].name"},
		{"host port differs from the container port on the host network", func(s *PodSpec) {
			s.HostNetwork = true
			s.Containers[0].Ports = []ContainerPort{{ContainerPort: 8080, HostPort: 9090, Protocol: "TCP"}}
		}, "spec.containers[0].ports[0].hostPort"},
	}
	for _, c := range cases {
		p := &Pod{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"},
			Spec: PodSpec{Containers: []Container{{Name: "app", Image: "img"}}}}
		c.mutate(&p.Spec)
		Default(p)
		err := Validate(p)
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		found := false
		for _, f := range fieldsOf(err) {
			found = found || f == c.field
		}
		if !found {
			t.Errorf("%s: error %v does not name %s", c.name, err, c.field)
		}
	}
}

func TestHostNetworkPortsBecomeHostPorts(t *testing.T) {
	p := &Pod{Spec: PodSpec{HostNetwork: true, Containers: []Container{{Name: "a", Image: "i",
		Ports: []ContainerPort{{ContainerPort: 8080}}}}}}
	Default(p)
	if hp := p.Spec.Containers[0].Ports[0].HostPort; hp != 8080 {
		t.Fatalf("hostPort %d, want 8080", hp)
	}
}

func TestSecurityFieldsAreKnownNotWarnedAbout(t *testing.T) {
	d, err := Decode([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{
		"hostNetwork":true,"hostPID":true,"hostIPC":true,
		"securityContext":{"runAsNonRoot":true,"runAsUser":1,"runAsGroup":1,"fsGroup":1,"supplementalGroups":[2],
			"seccompProfile":{"type":"Localhost","localhostProfile":"p.json"},"sysctls":[{"name":"kernel.sem","value":"1"}]},
		"containers":[{"name":"a","image":"i","ports":[{"containerPort":80,"hostPort":80}],"securityContext":{
			"privileged":false,"allowPrivilegeEscalation":false,"capabilities":{"add":["NET_ADMIN"],"drop":["ALL"]},
			"runAsNonRoot":true,"runAsUser":1,"runAsGroup":1,"readOnlyRootFilesystem":true,
			"seccompProfile":{"type":"RuntimeDefault"},"procMount":"Default"}}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.UnknownFields) != 0 {
		t.Fatalf("unknown fields %v", d.UnknownFields)
	}
}

func TestCapabilityNamesAreTakenInAnyCase(t *testing.T) {
	for _, c := range []string{"all", "ALL", "net_admin", "CAP_NET_ADMIN", "cap_sys_time"} {
		if !isCapability(c) {
			t.Errorf("%q refused", c)
		}
	}
	if got := CapabilityName("cap_net_bind_service"); got != "NET_BIND_SERVICE" {
		t.Errorf("CapabilityName: %q", got)
	}
}
