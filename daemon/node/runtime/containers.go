package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/daemon/node/engine"
)

// containerHash identifies a container definition; a running container whose
// definition changed is restarted.
func containerHash(c *api.Container) string {
	b, _ := json.Marshal(c)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:6])
}

func (w *podWorker) labels(pod *api.Pod, container string, attempt int) map[string]string {
	l := map[string]string{
		engine.LabelPodUID:       pod.UID,
		engine.LabelPodName:      pod.Name,
		engine.LabelPodNamespace: pod.Namespace,
		engine.LabelContainer:    container,
		engine.LabelAttempt:      strconv.Itoa(attempt),
		engine.LabelNode:         w.rt.cfg.NodeName,
	}
	return l
}

// containerName is unique per attempt and readable in `docker ps`.
func containerName(pod *api.Pod, container string, attempt int) string {
	uid := pod.UID
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return fmt.Sprintf("shoal_%s_%s_%s_%s_%d", container, pod.Name, pod.Namespace, uid, attempt)
}

// sandboxHostname is the pod's host name: spec.hostname, else its name, cut
// to a DNS label's 63 characters.
func sandboxHostname(pod *api.Pod) string {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = hostname[:63]
	}
	return hostname
}

func (w *podWorker) sandboxSpec(pod *api.Pod, attempt int) engine.ContainerSpec {
	spec := engine.ContainerSpec{
		Name:       containerName(pod, "POD", attempt),
		Image:      w.rt.cfg.SandboxImage,
		Labels:     w.labels(pod, engine.SandboxContainerName, attempt),
		IPCMode:    "shareable",
		StopSignal: "SIGTERM",
		// The sandbox only waits: it needs no capability and never gains
		// one.
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges"},
	}
	sandboxNamespaces(w.rt, pod, &spec)
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 && !pod.Spec.HostNetwork && w.rt.cfg.Wiring == nil {
				spec.PortBindings = append(spec.PortBindings, engine.PortBinding{ContainerPort: int(p.ContainerPort),
					Protocol: strings.ToLower(p.Protocol), HostIP: p.HostIP, HostPort: int(p.HostPort)})
			}
		}
	}
	return spec
}

// sandboxNamespaces sets what the container holding the pod's namespaces
// (its sandbox, or its only container) needs: host name, network, DNS,
// sysctls and the host namespaces the pod asks for.
func sandboxNamespaces(rt *Runtime, pod *api.Pod, spec *engine.ContainerSpec) {
	spec.Hostname = sandboxHostname(pod)
	spec.NetworkMode = rt.cfg.Network
	if pod.Spec.HostIPC {
		spec.IPCMode = "host"
	}
	if pod.Spec.HostPID {
		spec.PIDMode = "host"
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		spec.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			spec.Sysctls[s.Name] = s.Value
		}
	}
	if rt.cfg.Wiring != nil {
		// The agent wires the pod itself, and publishes its ports. On
		// network mode "none" the engine writes the pod's resolv.conf from
		// the DNS settings below as they are, with no resolver of its own.
		spec.NetworkMode = "none"
	}
	if pod.Spec.HostNetwork {
		spec.NetworkMode = "host"
		spec.Hostname = ""
	} else if servers := rt.dnsServers(); pod.Spec.DNSPolicy != "Default" && len(servers) > 0 {
		spec.DNS = servers
		if rt.cfg.DNSSearch != nil {
			spec.DNSSearch = rt.cfg.DNSSearch(pod.Namespace)
		}
		spec.DNSOptions = []string{"ndots:5"}
	}
}

// containerSpec builds the engine spec of one attempt of a container.
func (w *podWorker) containerSpec(ctx context.Context, pod *api.Pod, c *api.Container, sandboxID, podIP string, attempt int) (engine.ContainerSpec, error) {
	env, err := w.resolveEnv(ctx, pod, c, podIP)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	mounts, err := w.mounts(pod, c)
	if err != nil {
		return engine.ContainerSpec{}, err
	}
	labels := w.labels(pod, c.Name, attempt)
	labels[engine.LabelSandbox] = sandboxID
	labels[engine.LabelSpecHash] = containerHash(c)
	spec := engine.ContainerSpec{
		Name:        containerName(pod, c.Name, attempt),
		Image:       c.Image,
		Entrypoint:  c.Command,
		Cmd:         c.Args,
		Env:         env,
		WorkingDir:  c.WorkingDir,
		Labels:      labels,
		NetworkMode: "container:" + sandboxID,
		IPCMode:     "container:" + sandboxID,
		Mounts:      mounts,
		OpenStdin:   c.Stdin,
		TTY:         c.TTY,
	}
	if pod.Spec.HostNetwork {
		spec.NetworkMode = "host"
	}
	// With command given but no args, Kubernetes ignores the image's CMD.
	if c.Command != nil && c.Args == nil {
		spec.Cmd = []string{}
	}
	if cpu, ok := c.Resources.Limits[api.ResourceCPU]; ok {
		spec.NanoCPUs = cpu.MilliValue() * 1_000_000
	}
	if mem, ok := c.Resources.Limits[api.ResourceMemory]; ok {
		spec.MemoryBytes = mem.Value()
	}
	if pod.Spec.HostIPC {
		spec.IPCMode = "host"
	}
	if pod.Spec.HostPID {
		spec.PIDMode = "host"
	}
	if w.isSolo() {
		var cmd []string
		if !pod.Spec.HostNetwork {
			if cmd, err = w.commandOf(ctx, c); err != nil {
				return engine.ContainerSpec{}, err
			}
		}
		w.soloNamespaces(pod, &spec, podIP, cmd)
	}
	if err := w.applySecurity(ctx, pod, c, &spec); err != nil {
		return engine.ContainerSpec{}, err
	}
	return spec, nil
}

func runAs(pod *api.Pod, c *api.Container) (user, group *int64) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		user, group = psc.RunAsUser, psc.RunAsGroup
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			group = sc.RunAsGroup
		}
	}
	return user, group
}

// resolveEnv computes the environment as Kubernetes does: envFrom first, then
// env in order, with $(VAR) references to earlier variables expanded.
// kubernetesServiceEnv are the variables the kubelet gives every container
// for the kubernetes Service at host, port 443.
func kubernetesServiceEnv(host string) [][2]string {
	hp := net.JoinHostPort(host, "443")
	return [][2]string{
		{"KUBERNETES_SERVICE_HOST", host}, {"KUBERNETES_SERVICE_PORT", "443"}, {"KUBERNETES_SERVICE_PORT_HTTPS", "443"},
		{"KUBERNETES_PORT", "tcp://" + hp}, {"KUBERNETES_PORT_443_TCP", "tcp://" + hp},
		{"KUBERNETES_PORT_443_TCP_PROTO", "tcp"}, {"KUBERNETES_PORT_443_TCP_PORT", "443"}, {"KUBERNETES_PORT_443_TCP_ADDR", host},
	}
}

func (w *podWorker) resolveEnv(ctx context.Context, pod *api.Pod, c *api.Container, podIP string) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	// First, so that the container's own variables win, as in Kubernetes.
	// Unlike Kubernetes, a pod that was given no service-account token
	// (syncVolumes ran before any container starts) is not told where the
	// API is either: compose's pods, as docker compose gives its
	// containers no such variables.
	if h := w.rt.cfg.APIServiceHost; h != "" && w.saDir != "" {
		for _, kv := range kubernetesServiceEnv(h) {
			set(kv[0], kv[1])
		}
	}
	for _, ef := range c.EnvFrom {
		data, err := w.sourceData(ctx, pod.Namespace, ef.ConfigMapRef, ef.SecretRef)
		if err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(ef.Prefix+k, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expandRefs(e.Value, vals))
			continue
		}
		v, ok, err := w.valueFrom(ctx, pod, e.ValueFrom, podIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// expandRefs replaces $(VAR) with earlier values; $$(VAR) escapes.
func expandRefs(s string, vals map[string]string) string {
	if !strings.Contains(s, "$(") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '(' {
			if end := strings.IndexByte(s[i:], ')'); end > 0 {
				name := s[i+2 : i+end]
				if v, ok := vals[name]; ok {
					b.WriteString(v)
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (w *podWorker) sourceData(ctx context.Context, ns string, cm, sec *api.NameOptional) (map[string]string, error) {
	switch {
	case cm != nil:
		obj, err := w.rt.store.Get(ctx, api.KindConfigMap, ns, cm.Name)
		if err != nil {
			if api.IsNotFound(err) && cm.Optional != nil && *cm.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("configmap %q: %w", cm.Name, err)
		}
		return obj.(*api.ConfigMap).Data, nil
	case sec != nil:
		obj, err := w.rt.store.Get(ctx, api.KindSecret, ns, sec.Name)
		if err != nil {
			if api.IsNotFound(err) && sec.Optional != nil && *sec.Optional {
				return nil, nil
			}
			return nil, fmt.Errorf("secret %q: %w", sec.Name, err)
		}
		out := map[string]string{}
		for k, v := range obj.(*api.Secret).Data {
			out[k] = string(v)
		}
		return out, nil
	}
	return nil, nil
}

func (w *podWorker) valueFrom(ctx context.Context, pod *api.Pod, src *api.EnvVarSource, podIP string) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath, podIP, w.rt.cfg.HostIP)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil, src.SecretKeyRef != nil:
		ref := src.ConfigMapKeyRef
		var data map[string]string
		var err error
		if ref != nil {
			data, err = w.sourceData(ctx, pod.Namespace, &api.NameOptional{Name: ref.Name, Optional: ref.Optional}, nil)
		} else {
			ref = src.SecretKeyRef
			data, err = w.sourceData(ctx, pod.Namespace, nil, &api.NameOptional{Name: ref.Name, Optional: ref.Optional})
		}
		if err != nil {
			return "", false, err
		}
		v, ok := data[ref.Key]
		if !ok {
			if ref.Optional != nil && *ref.Optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("key %q not found in %q", ref.Key, ref.Name)
		}
		return v, true, nil
	}
	return "", false, nil
}

func fieldValue(pod *api.Pod, path, podIP, hostIP string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return pod.UID, nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP":
		return hostIP, nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels['": pod.Labels, "metadata.annotations['": pod.Annotations} {
		if key, ok := strings.CutPrefix(path, prefix); ok {
			return m[strings.TrimSuffix(key, "']")], nil
		}
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}
