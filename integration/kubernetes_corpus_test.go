package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

const kubeCorpusDir = "testdata/kubernetes-corpus"

// corpusRefusals are the corpus files kubectl or shoal refuse, each with
// what the refusal must name. Every other file must apply whole.
var corpusRefusals = map[string][]string{
	// A removed API version and kinds shoal does not serve yet. (The
	// cockroachdb file's other objects apply: its StatefulSet, with
	// preferred pod anti-affinity, is checked below.)
	"kubernetes-examples--cockroachdb--cockroachdb-statefulset.yaml": {`no matches for kind "PodDisruptionBudget" in version "policy/v1beta1"`},
	"kubernetes-examples--vllm-deployment--prometheus-adapter.yaml":  {`APIService`},
	// Pod Security's baseline level, shoal's default (Kubernetes enforces
	// none unless told): each refusal names the fields and the fix.
	"kubernetes-examples--cassandra--cassandra-statefulset.yaml": {
		`capabilities.add[0]: container "cassandra" must not add capability IPC_LOCK`, "pod-security.kubernetes.io/enforce=privileged"},
	"kubernetes-examples--newrelic--newrelic-daemonset.yaml": {
		"spec.template.spec.hostNetwork", "securityContext.privileged", "pod-security.kubernetes.io/enforce=privileged"},
}

// standIn rewrites the pod templates of a manifest's objects for the test
// image: every image becomes it, every container serves HTTP on its first
// port (init containers exit 0), and Secrets, ConfigMaps and claims the
// pods name are collected so that the test can stub those not defined.
type standIn struct {
	secrets, configMaps map[string]bool // namespace/name
}

func (s *standIn) rewrite(doc map[string]any) {
	ns, _ := dig(doc, "metadata", "namespace").(string)
	if ns == "" {
		ns = "default"
	}
	for _, path := range [][]string{
		{"spec"}, // a Pod
		{"spec", "template", "spec"},
		{"spec", "jobTemplate", "spec", "template", "spec"},
	} {
		if doc["kind"] == "Pod" && len(path) != 1 || doc["kind"] != "Pod" && len(path) == 1 {
			continue
		}
		spec, ok := dig(doc, path...).(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"initContainers", "containers"} {
			list, _ := spec[key].([]any)
			for _, c := range list {
				c, ok := c.(map[string]any)
				if !ok {
					continue
				}
				c["image"] = testImage
				delete(c, "args")
				if key == "initContainers" {
					c["command"] = []any{"/testapp", "exit", "0"}
					continue
				}
				port := 8080
				if ports, _ := c["ports"].([]any); len(ports) > 0 {
					if p, ok := ports[0].(map[string]any)["containerPort"].(int); ok {
						port = p
					}
				}
				c["command"] = []any{"/testapp", "serve", "--port", strconv.Itoa(port)}
				for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
					delete(c, probe) // the programs' own health checks mean nothing to the stand-in
				}
				delete(c, "lifecycle")
				// Resources no host has (GPUs) would keep the pod Pending.
				for _, kind := range []string{"requests", "limits"} {
					if r, ok := dig(c, "resources", kind).(map[string]any); ok {
						delete(r, "nvidia.com/gpu")
					}
				}
				for _, e := range asList(c["env"]) {
					if ref, ok := dig(e, "valueFrom", "secretKeyRef", "name").(string); ok {
						s.secrets[ns+"/"+ref] = true
					}
				}
			}
		}
		for _, v := range asList(spec["volumes"]) {
			if name, ok := dig(v, "secret", "secretName").(string); ok {
				s.secrets[ns+"/"+name] = true
			}
			if name, ok := dig(v, "configMap", "name").(string); ok {
				s.configMaps[ns+"/"+name] = true
			}
		}
	}
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

// rewriteManifest parses a manifest and returns it rewritten for the test
// image, and the objects it defines (kind namespace/name); a file that
// does not parse is returned as it is (kubectl reports why).
func (s *standIn) rewriteManifest(raw []byte) ([]byte, map[string]bool, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	defined := map[string]bool{}
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return raw, nil, err
		}
		if doc == nil {
			continue
		}
		s.rewrite(doc)
		ns, _ := dig(doc, "metadata", "namespace").(string)
		if ns == "" {
			ns = "default"
		}
		name, _ := dig(doc, "metadata", "name").(string)
		defined[fmt.Sprint(doc["kind"])+" "+ns+"/"+name] = true
		if err := enc.Encode(doc); err != nil {
			return raw, nil, err
		}
	}
	enc.Close()
	return out.Bytes(), defined, nil
}

// stubs returns the manifest of the namespaces the rewritten files use and
// of the Secrets and ConfigMaps their pods name but no file defines, as a
// user would create them first.
func (s *standIn) stubs(defined map[string]bool) string {
	var stubs strings.Builder
	namespaces := map[string]bool{}
	for k := range s.secrets {
		namespaces[strings.SplitN(k, "/", 2)[0]] = true
	}
	for k := range s.configMaps {
		namespaces[strings.SplitN(k, "/", 2)[0]] = true
	}
	for ns := range namespaces {
		if ns != "default" && !defined["Namespace /"+ns] && !defined["Namespace default/"+ns] {
			fmt.Fprintf(&stubs, "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", ns)
		}
	}
	for k := range s.secrets {
		ns, name, _ := strings.Cut(k, "/")
		if !defined["Secret "+k] {
			fmt.Fprintf(&stubs, "---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\nstringData: {password: stub, key: stub}\n", name, ns)
		}
	}
	for k := range s.configMaps {
		ns, name, _ := strings.Cut(k, "/")
		if !defined["ConfigMap "+k] {
			fmt.Fprintf(&stubs, "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {stub: stub}\n", name, ns)
		}
	}
	return stubs.String()
}

// TestKubernetesCorpus applies every manifest of the corpus with the real
// kubectl, images mapped to the test image: each file applies whole or is
// refused with a message naming what is wrong; then the guestbook and the
// Sock Shop come up with every pod Running and their Services resolving
// by name from a pod.
func TestKubernetesCorpus(t *testing.T) {
	a := startAgent(t)
	entries, err := os.ReadDir(kubeCorpusDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := &standIn{secrets: map[string]bool{}, configMaps: map[string]bool{}}
	defined := map[string]bool{}
	type file struct{ name, path string }
	var files []file
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(kubeCorpusDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, objs, _ := s.rewriteManifest(raw)
		for k := range objs {
			defined[k] = true
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, out, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, file{e.Name(), p})
	}
	stubs := s.stubs(defined)
	if stubs != "" {
		if out, err := a.kubectl(t, stubs, "apply", "-f", "-"); err != nil {
			t.Fatalf("the stubs: %v\n%s\n%s", err, out, stubs)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	// Namespaces first: the Sock Shop's file creates its own.
	for _, f := range files {
		out, err := a.kubectl(t, "", "apply", "-f", f.path)
		want, refused := corpusRefusals[f.name]
		switch {
		case !refused && err != nil:
			t.Errorf("%s: kubectl apply failed: %v\n%s", f.name, err, out)
		case refused && err == nil:
			t.Errorf("%s: applied, but shoal should refuse it naming %q:\n%s", f.name, want, out)
		case refused:
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: the refusal does not say %q:\n%s", f.name, w, out)
				}
			}
			t.Logf("%s: refused: %s", f.name, strings.Join(strings.Fields(strings.ReplaceAll(out, "\n", "; ")), " "))
		default:
			t.Logf("%s: %s", f.name, strings.Join(strings.Fields(strings.ReplaceAll(out, "\n", "; ")), " "))
		}
	}

	// The model-serving claim names its declared hostPath volume
	// (spec.volumeName): both are Bound, to each other.
	if got := a.mustKubectl(t, "", "get", "pvc", "my-model-pvc", "-o",
		`jsonpath={.status.phase} {.spec.volumeName} {.metadata.annotations.pv\.kubernetes\.io/bind-completed}`); strings.TrimSpace(got) != "Bound my-model-pv yes" {
		t.Errorf("my-model-pvc: %q, want it Bound to my-model-pv", got)
	}
	if got := a.mustKubectl(t, "", "get", "pv", "my-model-pv", "-o", "jsonpath={.status.phase} {.spec.claimRef.namespace}/{.spec.claimRef.name}"); strings.TrimSpace(got) != "Bound default/my-model-pvc" {
		t.Errorf("my-model-pv: %q, want it Bound to default/my-model-pvc", got)
	}

	// The cockroachdb StatefulSet applied with its preferred pod
	// anti-affinity, and the scheduler places its first pod.
	if w := a.mustKubectl(t, "", "get", "statefulset", "cockroachdb", "-o",
		"jsonpath={.spec.template.spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight}"); w != "100" {
		t.Errorf("cockroachdb StatefulSet: preferred anti-affinity weight %q, want 100", w)
	}
	poll.Until(t, time.Minute, "cockroachdb-0 bound to a node", func() error {
		out, err := a.kubectl(t, "", "get", "pod", "cockroachdb-0", "-o", "jsonpath={.spec.nodeName}")
		if err != nil || strings.TrimSpace(out) == "" {
			return fmt.Errorf("%v %s", err, out)
		}
		return nil
	})

	// The guestbook (all in one) and the Sock Shop run, and their names resolve.
	for _, app := range []struct {
		ns, selector string
		names        []string
	}{
		{"default", "app in (guestbook,redis)", []string{"frontend", "redis-master", "redis-replica"}},
		{"sock-shop", "", []string{"front-end", "catalogue", "carts-db", "orders", "payment", "user-db", "rabbitmq", "session-db"}},
	} {
		var pods []*api.Pod
		poll.Until(t, 3*time.Minute, "every pod of "+app.ns+" Running", func() error {
			pods = a.pods(t, app.ns, app.selector)
			if len(pods) == 0 {
				return fmt.Errorf("no pods")
			}
			for _, p := range pods {
				if p.Status.Phase != api.PodRunning || p.DeletionTimestamp != nil {
					return fmt.Errorf("%s is %s", p.Name, p.Status.Phase)
				}
			}
			return nil
		})
		from := pods[0]
		for _, name := range app.names {
			fqdn := name + "." + app.ns + ".svc.cluster.local"
			out := a.mustKubectl(t, "", "exec", "-n", app.ns, from.Name, "-c", from.Spec.Containers[0].Name, "--", "/testapp", "lookup", fqdn)
			if !strings.Contains(out, ".") {
				t.Errorf("%s from %s: %q", fqdn, from.Name, out)
			}
		}
		t.Logf("%s: %d pods Running; %s resolve", app.ns, len(pods), strings.Join(app.names, ", "))
	}
}
