package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// specWorker is a worker outside any running runner, for building specs.
func specWorker(t *testing.T, eng *enginetest.Fake) *podWorker {
	t.Helper()
	cfg := Config{NodeName: "n1", HostIP: "10.0.0.1", SandboxImage: "pause:1", Network: "shoal", DataDir: t.TempDir()}
	r := New(cfg, eng, nil, &nopRecorder{}, slog.New(slog.DiscardHandler))
	return newPodWorker(r, podKey{uid: "0f1e2d3c-aaaa-4bbb-8ccc-123456789abc", ns: "default", name: "p"})
}

func TestEngineSpecHonoursSecurityContexts(t *testing.T) {
	tr, fa := true, false
	unmasked := api.ProcMountUnmasked
	profile := "audit.json"
	cases := []struct {
		name  string
		pod   func(p *api.Pod)
		check func(s engine.ContainerSpec) error
	}{
		{"default: no-new-privileges, the engine's capabilities", func(*api.Pod) {}, func(s engine.ContainerSpec) error {
			if !slices.Equal(s.SecurityOpt, []string{"no-new-privileges"}) || s.CapAdd != nil || s.CapDrop != nil || s.Privileged || s.User != "" {
				return fmt.Errorf("%+v", s)
			}
			return nil
		}},
		{"drop ALL, add NET_BIND_SERVICE", func(p *api.Pod) {
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{Capabilities: &api.Capabilities{Drop: []string{"ALL"}, Add: []string{"CAP_NET_BIND_SERVICE"}}}
		}, func(s engine.ContainerSpec) error {
			if !slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Equal(s.CapAdd, []string{"NET_BIND_SERVICE"}) {
				return fmt.Errorf("add %v drop %v", s.CapAdd, s.CapDrop)
			}
			return nil
		}},
		{"privileged", func(p *api.Pod) { p.Spec.Containers[0].SecurityContext = &api.SecurityContext{Privileged: &tr} },
			func(s engine.ContainerSpec) error {
				if !s.Privileged || slices.Contains(s.SecurityOpt, "no-new-privileges") {
					return fmt.Errorf("privileged %v opts %v", s.Privileged, s.SecurityOpt)
				}
				return nil
			}},
		{"allowPrivilegeEscalation true", func(p *api.Pod) {
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{AllowPrivilegeEscalation: &tr}
		}, func(s engine.ContainerSpec) error {
			if len(s.SecurityOpt) != 0 {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"allowPrivilegeEscalation false", func(p *api.Pod) {
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{AllowPrivilegeEscalation: &fa}
		}, func(s engine.ContainerSpec) error {
			if !slices.Equal(s.SecurityOpt, []string{"no-new-privileges"}) {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"seccomp Unconfined on the pod", func(p *api.Pod) {
			p.Spec.SecurityContext = &api.PodSecurityContext{SeccompProfile: &api.SeccompProfile{Type: api.SeccompUnconfined}}
		}, func(s engine.ContainerSpec) error {
			if !slices.Contains(s.SecurityOpt, "seccomp=unconfined") {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"seccomp RuntimeDefault on the container overrides the pod", func(p *api.Pod) {
			p.Spec.SecurityContext = &api.PodSecurityContext{SeccompProfile: &api.SeccompProfile{Type: api.SeccompUnconfined}}
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{SeccompProfile: &api.SeccompProfile{Type: api.SeccompRuntimeDefault}}
		}, func(s engine.ContainerSpec) error {
			if !slices.Equal(s.SecurityOpt, []string{"no-new-privileges"}) {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"seccomp Localhost", func(p *api.Pod) {
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{SeccompProfile: &api.SeccompProfile{Type: api.SeccompLocalhost, LocalhostProfile: &profile}}
		}, func(s engine.ContainerSpec) error {
			if !slices.Contains(s.SecurityOpt, `seccomp={"defaultAction":"SCMP_ACT_LOG"}`) {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"procMount Unmasked", func(p *api.Pod) {
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{ProcMount: &unmasked}
		}, func(s engine.ContainerSpec) error {
			if !slices.Contains(s.SecurityOpt, "systempaths=unconfined") {
				return fmt.Errorf("opts %v", s.SecurityOpt)
			}
			return nil
		}},
		{"user and group, the container's user first", func(p *api.Pod) {
			p.Spec.SecurityContext = &api.PodSecurityContext{RunAsUser: api.Int64(5), RunAsGroup: api.Int64(2000),
				FSGroup: api.Int64(3000), SupplementalGroups: []int64{4000}}
			p.Spec.Containers[0].SecurityContext = &api.SecurityContext{RunAsUser: api.Int64(1000), ReadOnlyRootFilesystem: &tr}
		}, func(s engine.ContainerSpec) error {
			if s.User != "1000:2000" || !slices.Equal(s.GroupAdd, []string{"3000", "4000"}) || !s.ReadOnlyRootfs {
				return fmt.Errorf("user %q groups %v read-only %v", s.User, s.GroupAdd, s.ReadOnlyRootfs)
			}
			return nil
		}},
		{"a group alone keeps the image's user", func(p *api.Pod) {
			p.Spec.SecurityContext = &api.PodSecurityContext{RunAsGroup: api.Int64(2000)}
			p.Spec.Containers[0].Image = "named:1"
		}, func(s engine.ContainerSpec) error {
			if s.User != "app:2000" {
				return fmt.Errorf("user %q", s.User)
			}
			return nil
		}},
		{"a group alone with a root image", func(p *api.Pod) {
			p.Spec.SecurityContext = &api.PodSecurityContext{RunAsGroup: api.Int64(2000)}
		}, func(s engine.ContainerSpec) error {
			if s.User != "0:2000" {
				return fmt.Errorf("user %q", s.User)
			}
			return nil
		}},
		{"host PID and IPC", func(p *api.Pod) { p.Spec.HostPID, p.Spec.HostIPC = true, true }, func(s engine.ContainerSpec) error {
			if s.PIDMode != "host" || s.IPCMode != "host" {
				return fmt.Errorf("pid %q ipc %q", s.PIDMode, s.IPCMode)
			}
			return nil
		}},
		{"host network", func(p *api.Pod) { p.Spec.HostNetwork = true }, func(s engine.ContainerSpec) error {
			if s.NetworkMode != "host" || s.IPCMode != "container:sb" {
				return fmt.Errorf("network %q ipc %q", s.NetworkMode, s.IPCMode)
			}
			return nil
		}},
	}
	eng := enginetest.New()
	eng.AddImage("app:1", "named:1")
	eng.SetImageUser("named:1", "app")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := specWorker(t, eng)
			os.MkdirAll(filepath.Join(w.rt.cfg.DataDir, "seccomp"), 0o755)
			os.WriteFile(filepath.Join(w.rt.cfg.DataDir, "seccomp", profile), []byte(`{"defaultAction":"SCMP_ACT_LOG"}`), 0o644)
			p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "app:1"}}}}
			c.pod(p)
			spec, err := w.containerSpec(context.Background(), p, &p.Spec.Containers[0], "sb", "10.244.0.2", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.check(spec); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestALocalhostSeccompProfileStaysInItsDirectory(t *testing.T) {
	w := specWorker(t, enginetest.New())
	w.rt.eng.(*enginetest.Fake).AddImage("app:1")
	outside := filepath.Join(t.TempDir(), "secret.json")
	os.WriteFile(outside, []byte(`{"secret":1}`), 0o644)
	dir := filepath.Join(w.rt.cfg.DataDir, "seccomp")
	os.MkdirAll(dir, 0o755)
	os.Symlink(outside, filepath.Join(dir, "link.json"))
	for name, want := range map[string]string{"link.json": "escapes", "missing.json": "no such file"} {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "app:1",
			SecurityContext: &api.SecurityContext{SeccompProfile: &api.SeccompProfile{Type: api.SeccompLocalhost, LocalhostProfile: &name}}}}}}
		_, err := w.containerSpec(context.Background(), p, &p.Spec.Containers[0], "sb", "", 0)
		var ce *configError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", name, err, want)
		}
	}
}

func TestRunAsNonRootIsVerifiedAsTheKubeletDoes(t *testing.T) {
	cases := []struct {
		imageUser string
		runAsUser *int64
		want      string // "" when the container may start
	}{
		{"", nil, "image will run as root"},
		{"0", nil, "image will run as root"},
		{"0:0", nil, "image will run as root"},
		{"root", nil, "image has non-numeric user (root), cannot verify user is non-root"},
		{"app:app", nil, "image has non-numeric user (app)"},
		{"1000", nil, ""},
		{"1000:1000", nil, ""},
		{"", api.Int64(0), "container's runAsUser breaks non-root policy"},
		{"", api.Int64(1000), ""},
		{"root", api.Int64(1000), ""},
	}
	for _, c := range cases {
		eng := enginetest.New()
		eng.AddImage("img:1")
		eng.SetImageUser("img:1", c.imageUser)
		w := specWorker(t, eng)
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{
			SecurityContext: &api.PodSecurityContext{RunAsNonRoot: api.Bool(true)},
			Containers:      []api.Container{{Name: "app", Image: "img:1", SecurityContext: &api.SecurityContext{RunAsUser: c.runAsUser}}}}}
		_, err := w.containerSpec(context.Background(), p, &p.Spec.Containers[0], "sb", "", 0)
		var ce *configError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("image user %q runAsUser %v: refused: %v", c.imageUser, c.runAsUser, err)
		case c.want != "" && (!errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `pod: "p", container: app`)):
			t.Errorf("image user %q runAsUser %v: got %v, want %q", c.imageUser, c.runAsUser, err, c.want)
		}
	}
	// A container may turn the pod's requirement off.
	eng := enginetest.New()
	eng.AddImage("img:1")
	w := specWorker(t, eng)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{
		SecurityContext: &api.PodSecurityContext{RunAsNonRoot: api.Bool(true)},
		Containers:      []api.Container{{Name: "app", Image: "img:1", SecurityContext: &api.SecurityContext{RunAsNonRoot: api.Bool(false)}}}}}
	if _, err := w.containerSpec(context.Background(), p, &p.Spec.Containers[0], "sb", "", 0); err != nil {
		t.Fatal(err)
	}
}

func TestRunAsNonRootWithARootImageWaitsWithCreateContainerConfigError(t *testing.T) {
	f := newFixture(t)
	p := f.createPod("nonroot", api.RestartAlways, api.Container{Name: "app", Image: "app:1",
		SecurityContext: &api.SecurityContext{RunAsNonRoot: api.Bool(true)}})
	poll.Until(t, 5*time.Second, "CreateContainerConfigError", func() error {
		cs := f.pod("nonroot").Status.ContainerStatuses
		if len(cs) != 1 || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "CreateContainerConfigError" ||
			!strings.Contains(cs[0].State.Waiting.Message, "container has runAsNonRoot and image will run as root") {
			return fmt.Errorf("%+v", cs)
		}
		return nil
	})
	if c := appContainer(f, p.UID, "app"); c.ID != "" {
		t.Fatalf("a container was started: %+v", c)
	}
}

func TestSandboxSpecCarriesHostNamespacesAndSysctls(t *testing.T) {
	w := specWorker(t, enginetest.New())
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p"}, Spec: api.PodSpec{HostIPC: true, HostPID: true,
		SecurityContext: &api.PodSecurityContext{Sysctls: []api.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "80"}}},
		Containers:      []api.Container{{Name: "app", Image: "app:1"}}}}
	s := w.sandboxSpec(p, 0)
	if s.IPCMode != "host" || s.PIDMode != "host" || s.Sysctls["net.ipv4.ip_unprivileged_port_start"] != "80" ||
		!slices.Equal(s.CapDrop, []string{"ALL"}) || !slices.Equal(s.SecurityOpt, []string{"no-new-privileges"}) {
		t.Fatalf("%+v", s)
	}
	p.Spec.HostIPC, p.Spec.HostPID = false, false
	if s := w.sandboxSpec(p, 0); s.IPCMode != "shareable" || s.PIDMode != "" {
		t.Fatalf("ipc %q pid %q", s.IPCMode, s.PIDMode)
	}
}

func TestAHostNetworkPodHasTheHostIP(t *testing.T) {
	f := newFixture(t)
	obj, err := f.objs.Create(context.Background(), &api.Pod{ObjectMeta: api.ObjectMeta{Name: "hostnet", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", HostNetwork: true, Containers: []api.Container{{Name: "app", Image: "app:1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 5*time.Second, "running with the host's IP", func() error {
		st := f.pod("hostnet").Status
		if st.Phase != api.PodRunning || st.PodIP != "10.0.0.1" || len(st.PodIPs) != 1 || st.PodIPs[0].IP != "10.0.0.1" {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	sb := appContainer(f, obj.GetObjectMeta().UID, engine.SandboxContainerName)
	if spec, _ := f.eng.Spec(sb.ID); spec.NetworkMode != "host" {
		t.Fatalf("sandbox network %q", spec.NetworkMode)
	}
}
