package podsecurity

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/shoal-dev/shoal/api"
)

// restrictedPod passes every level.
func restrictedPod() *api.PodSpec {
	f := false
	return &api.PodSpec{
		SecurityContext: &api.PodSecurityContext{RunAsNonRoot: api.Bool(true),
			SeccompProfile: &api.SeccompProfile{Type: api.SeccompRuntimeDefault}},
		Volumes: []api.Volume{{Name: "scratch", EmptyDir: &api.EmptyDirVolumeSource{}}},
		Containers: []api.Container{{Name: "app", Image: "img", SecurityContext: &api.SecurityContext{
			AllowPrivilegeEscalation: &f, Capabilities: &api.Capabilities{Drop: []string{"ALL"}}}}},
	}
}

func sc(s *api.PodSpec) *api.SecurityContext { return s.Containers[0].SecurityContext }

func TestEveryCheckOfEveryLevel(t *testing.T) {
	tr := true
	unmasked, def := api.ProcMountUnmasked, api.ProcMountDefault
	c0 := "spec.containers[0].securityContext."
	cases := []struct {
		name       string
		mutate     func(s *api.PodSpec)
		baseline   []string // check@field expected at baseline
		restricted []string // more expected at restricted
	}{
		{"nothing", func(*api.PodSpec) {}, nil, nil},
		{"hostNetwork", func(s *api.PodSpec) { s.HostNetwork = true }, []string{"hostNamespaces@spec.hostNetwork"}, nil},
		{"hostPID", func(s *api.PodSpec) { s.HostPID = true }, []string{"hostNamespaces@spec.hostPID"}, nil},
		{"hostIPC", func(s *api.PodSpec) { s.HostIPC = true }, []string{"hostNamespaces@spec.hostIPC"}, nil},
		{"privileged", func(s *api.PodSpec) { sc(s).Privileged = &tr; sc(s).AllowPrivilegeEscalation = nil },
			[]string{"privileged@" + c0 + "privileged"}, []string{"allowPrivilegeEscalation@" + c0 + "allowPrivilegeEscalation"}},
		{"privileged init container", func(s *api.PodSpec) {
			s.InitContainers = []api.Container{{Name: "init", SecurityContext: &api.SecurityContext{Privileged: &tr}}}
		}, []string{"privileged@spec.initContainers[0].securityContext.privileged"},
			[]string{"allowPrivilegeEscalation@spec.initContainers[0].securityContext.allowPrivilegeEscalation",
				"capabilities_restricted@spec.initContainers[0].securityContext.capabilities.drop"}},
		{"NET_ADMIN added", func(s *api.PodSpec) { sc(s).Capabilities.Add = []string{"NET_ADMIN"} },
			[]string{"capabilities_baseline@" + c0 + "capabilities.add[0]"}, nil},
		{"NET_RAW added (in the engine's set, not in baseline's)", func(s *api.PodSpec) { sc(s).Capabilities.Add = []string{"CAP_NET_RAW"} },
			[]string{"capabilities_baseline@" + c0 + "capabilities.add[0]"}, nil},
		{"ALL added", func(s *api.PodSpec) { sc(s).Capabilities.Add = []string{"ALL"} },
			[]string{"capabilities_baseline@" + c0 + "capabilities.add[0]"}, nil},
		{"CHOWN added: baseline yes, restricted no", func(s *api.PodSpec) { sc(s).Capabilities.Add = []string{"CHOWN"} },
			nil, []string{"capabilities_restricted@" + c0 + "capabilities.add[0]"}},
		{"NET_BIND_SERVICE added", func(s *api.PodSpec) { sc(s).Capabilities.Add = []string{"NET_BIND_SERVICE"} }, nil, nil},
		{"ALL not dropped", func(s *api.PodSpec) { sc(s).Capabilities.Drop = []string{"NET_RAW"} },
			nil, []string{"capabilities_restricted@" + c0 + "capabilities.drop"}},
		{"hostPath", func(s *api.PodSpec) {
			s.Volumes = append(s.Volumes, api.Volume{Name: "root", HostPath: &api.HostPathVolumeSource{Path: "/"}})
		}, []string{"hostPathVolumes@spec.volumes[1].hostPath"}, nil},
		{"a volume of no allowed type", func(s *api.PodSpec) { s.Volumes = append(s.Volumes, api.Volume{Name: "odd"}) },
			nil, []string{"restrictedVolumes@spec.volumes[1]"}},
		{"host port 80", func(s *api.PodSpec) {
			s.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 80, HostPort: 80}}
		}, []string{"hostPorts@spec.containers[0].ports[0].hostPort"}, nil},
		{"host port 1023 on an init container", func(s *api.PodSpec) {
			s.InitContainers = []api.Container{{Name: "i", Ports: []api.ContainerPort{{ContainerPort: 1, HostPort: 1023}}, SecurityContext: sc(restrictedPod())}}
		}, []string{"hostPorts@spec.initContainers[0].ports[0].hostPort"}, nil},
		{"host port 8080", func(s *api.PodSpec) {
			s.Containers[0].Ports = []api.ContainerPort{{ContainerPort: 80, HostPort: 8080}}
		}, nil, nil},
		{"procMount Unmasked", func(s *api.PodSpec) { sc(s).ProcMount = &unmasked },
			[]string{"procMount@" + c0 + "procMount"}, nil},
		{"procMount Default", func(s *api.PodSpec) { sc(s).ProcMount = &def }, nil, nil},
		{"seccomp Unconfined on the pod", func(s *api.PodSpec) {
			s.SecurityContext.SeccompProfile.Type = api.SeccompUnconfined
		}, []string{"seccompProfile_baseline@spec.securityContext.seccompProfile.type"},
			[]string{"seccompProfile_restricted@" + c0 + "seccompProfile.type"}},
		{"seccomp Unconfined on a container", func(s *api.PodSpec) {
			sc(s).SeccompProfile = &api.SeccompProfile{Type: api.SeccompUnconfined}
		}, []string{"seccompProfile_baseline@" + c0 + "seccompProfile.type"}, nil},
		{"seccomp only on the container", func(s *api.PodSpec) {
			s.SecurityContext.SeccompProfile = nil
			sc(s).SeccompProfile = &api.SeccompProfile{Type: api.SeccompRuntimeDefault}
		}, nil, nil},
		{"no seccomp anywhere", func(s *api.PodSpec) { s.SecurityContext.SeccompProfile = nil },
			nil, []string{"seccompProfile_restricted@" + c0 + "seccompProfile.type"}},
		{"unsafe sysctl", func(s *api.PodSpec) {
			s.SecurityContext.Sysctls = []api.Sysctl{{Name: "net.ipv4.tcp_syncookies"}, {Name: "net.core.somaxconn"}}
		}, []string{"sysctls@spec.securityContext.sysctls[1].name"}, nil},
		{"privilege escalation allowed", func(s *api.PodSpec) { sc(s).AllowPrivilegeEscalation = &tr },
			nil, []string{"allowPrivilegeEscalation@" + c0 + "allowPrivilegeEscalation"}},
		{"no runAsNonRoot", func(s *api.PodSpec) { s.SecurityContext.RunAsNonRoot = nil },
			nil, []string{"runAsNonRoot@" + c0 + "runAsNonRoot"}},
		{"runAsNonRoot only on the container", func(s *api.PodSpec) {
			s.SecurityContext.RunAsNonRoot = nil
			sc(s).RunAsNonRoot = &tr
		}, nil, nil},
		{"runAsNonRoot turned off by a container", func(s *api.PodSpec) { sc(s).RunAsNonRoot = api.Bool(false) },
			nil, []string{"runAsNonRoot@" + c0 + "runAsNonRoot"}},
		{"runAsNonRoot false on the pod", func(s *api.PodSpec) { s.SecurityContext.RunAsNonRoot = api.Bool(false) },
			nil, []string{"runAsNonRoot@spec.securityContext.runAsNonRoot", "runAsNonRoot@" + c0 + "runAsNonRoot"}},
		{"runAsUser 0 on the pod", func(s *api.PodSpec) { s.SecurityContext.RunAsUser = api.Int64(0) },
			nil, []string{"runAsUser@spec.securityContext.runAsUser"}},
		{"runAsUser 0 on a container", func(s *api.PodSpec) { sc(s).RunAsUser = api.Int64(0) },
			nil, []string{"runAsUser@" + c0 + "runAsUser"}},
		{"runAsUser 1000", func(s *api.PodSpec) { sc(s).RunAsUser = api.Int64(1000) }, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := restrictedPod()
			c.mutate(s)
			if got := Check(Privileged, s, "spec"); len(got) != 0 {
				t.Errorf("privileged: %v", got)
			}
			assertViolations(t, "baseline", Check(Baseline, s, "spec"), c.baseline)
			assertViolations(t, "restricted", Check(Restricted, s, "spec"), append(slices.Clone(c.baseline), c.restricted...))
		})
	}
}

func assertViolations(t *testing.T, level string, got []Violation, want []string) {
	t.Helper()
	var g []string
	for _, v := range got {
		g = append(g, v.Check+"@"+v.Field)
		if v.Detail == "" {
			t.Errorf("%s: %s has no detail", level, v.Field)
		}
	}
	sort.Strings(g)
	want = slices.Clone(want)
	sort.Strings(want)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n got  %q\n want %q", level, g, want)
	}
}

func TestADefaultPodIsBaselineButNotRestricted(t *testing.T) {
	s := &api.PodSpec{Containers: []api.Container{{Name: "app", Image: "img"}}}
	if vs := Check(Baseline, s, "spec"); len(vs) != 0 {
		t.Fatalf("baseline: %v", vs)
	}
	var checks []string
	for _, v := range Check(Restricted, s, "spec") {
		checks = append(checks, v.Check)
	}
	sort.Strings(checks)
	if want := "allowPrivilegeEscalation capabilities_restricted runAsNonRoot seccompProfile_restricted"; strings.Join(checks, " ") != want {
		t.Fatalf("restricted: %v, want %s", checks, want)
	}
}

func TestWorkloadPathsUseTheTemplatePrefix(t *testing.T) {
	s := &api.PodSpec{Containers: []api.Container{{Name: "app", SecurityContext: &api.SecurityContext{Privileged: api.Bool(true)}}}}
	vs := Check(Baseline, s, "spec.template.spec")
	if len(vs) != 1 || vs[0].Field != "spec.template.spec.containers[0].securityContext.privileged" {
		t.Fatalf("%v", vs)
	}
}

func BenchmarkCheckRestricted(b *testing.B) {
	s := restrictedPod()
	s.InitContainers = []api.Container{s.Containers[0]}
	s.Containers = append(s.Containers, s.Containers[0], s.Containers[0])
	for b.Loop() {
		if vs := Check(Restricted, s, "spec"); len(vs) != 0 {
			b.Fatal(vs)
		}
	}
}
