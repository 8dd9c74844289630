package integration

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// kubectl runs the installed kubectl on the agent's admin kubeconfig and
// returns its output, stdout then stderr.
func (a *agent) kubectl(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := a.kubectlIn(t, []byte(stdin), args...)
	return out + errOut, err
}

// mustKubectl is kubectl that fails the test when kubectl does.
func (a *agent) mustKubectl(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := a.kubectl(t, stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestKubectlDiscoversExplainsAndValidatesFields(t *testing.T) {
	a := startAgent(t)

	t.Run("api-resources lists the kinds with their short names and scope", func(t *testing.T) {
		out := a.mustKubectl(t, "", "api-resources")
		for _, row := range []string{
			`pods\s+po\s+v1\s+true\s+Pod`,
			`namespaces\s+ns\s+v1\s+false\s+Namespace`,
			`deployments\s+deploy\s+apps/v1\s+true\s+Deployment`,
			`replicasets\s+rs\s+apps/v1\s+true\s+ReplicaSet`,
			`jobs\s+batch/v1\s+true\s+Job`,
			`ingresses\s+ing\s+networking.k8s.io/v1\s+true\s+Ingress`,
			`selfsubjectaccessreviews\s+authorization.k8s.io/v1\s+false\s+SelfSubjectAccessReview`,
		} {
			if !regexp.MustCompile(`(?m)^` + row + `\s*$`).MatchString(out) {
				t.Errorf("no row %q in:\n%s", row, out)
			}
		}
		// The `all` category, as `kubectl get all` uses it.
		cat := a.mustKubectl(t, "", "api-resources", "--categories=all", "-o", "name")
		for _, want := range []string{"pods", "services", "deployments.apps", "replicasets.apps", "daemonsets.apps", "jobs.batch"} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(cat) {
				t.Errorf("category all lacks %s:\n%s", want, cat)
			}
		}
	})

	t.Run("api-versions lists every group version", func(t *testing.T) {
		out := a.mustKubectl(t, "", "api-versions")
		lines := strings.Fields(out)
		for _, want := range []string{"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1"} {
			if !slices.Contains(lines, want) {
				t.Errorf("api-versions lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("explain prints a field from the OpenAPI document", func(t *testing.T) {
		out := a.mustKubectl(t, "", "explain", "deployment.spec.replicas")
		if !strings.Contains(out, "KIND:       Deployment") || !regexp.MustCompile(`FIELD:\s+replicas <integer>`).MatchString(out) {
			t.Errorf("explain deployment.spec.replicas:\n%s", out)
		}
		out = a.mustKubectl(t, "", "explain", "pods.spec.containers")
		if !regexp.MustCompile(`name\s+<string> -required-`).MatchString(out) || !strings.Contains(out, "image") {
			t.Errorf("explain pods.spec.containers:\n%s", out)
		}
	})

	t.Run("get pods discovers and lists", func(t *testing.T) {
		out, err := a.kubectl(t, "", "get", "pods")
		if err != nil || strings.Contains(out, "couldn't get current server API group list") {
			t.Fatalf("kubectl get pods: %v\n%s", err, out)
		}
	})

	t.Run("a user of one namespace discovers too; a bad token is refused", func(t *testing.T) {
		a.shoal("create", "namespace", "team")
		tok := strings.TrimSpace(a.shoal("token", "create", "dev", "--role", "edit", "-n", "team"))
		if out := a.mustKubectl(t, "", "--token", tok, "api-resources", "--api-group=apps", "-o", "name"); !strings.Contains(out, "deployments.apps") {
			t.Errorf("api-resources as a namespace's editor:\n%s", out)
		}
		a.mustKubectl(t, "", "--token", tok, "-n", "team", "get", "pods")
		a.mustKubectl(t, "", "--token", tok, "explain", "deployment.spec.replicas")
		out, err := a.kubectl(t, "", "--token", "not-a-token", "api-versions")
		if err == nil || !strings.Contains(out, "the server has asked for the client to provide credentials") { // kubectl's words for a 401
			t.Errorf("api-versions with a bad token: %v\n%s", err, out)
		}
	})

	t.Run("apply --validate=strict refuses an unknown field by name and stores nothing", func(t *testing.T) {
		// No replicas: its pods would count among the next subtest's.
		bad := strings.Replace(deploymentYAML("typo", 0, testImage), "        args:", "        imagePullPolcy: Always\n        args:", 1)
		out, err := a.kubectl(t, bad, "apply", "--validate=strict", "-f", "-")
		// The server's words: kubectl found fieldValidation in the OpenAPI
		// document and left validation to the server.
		if err == nil || !strings.Contains(out, `strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolcy"`) {
			t.Fatalf("strict apply of an unknown field: err %v\n%s", err, out)
		}
		if out, err := a.kubectl(t, "", "get", "deployment", "typo"); err == nil || !strings.Contains(out, "NotFound") {
			t.Fatalf("the refused deployment exists: %v\n%s", err, out)
		}
		// --validate=warn creates it, with kubectl's warning naming the field.
		out = a.mustKubectl(t, bad, "apply", "--validate=warn", "-f", "-")
		if !strings.Contains(out, `Warning: unknown field "spec.template.spec.containers[0].imagePullPolcy"`) || !strings.Contains(out, "deployment.apps/typo created") {
			t.Fatalf("warn apply:\n%s", out)
		}
	})

	t.Run("create -f of a good manifest runs its pods", func(t *testing.T) {
		out := a.mustKubectl(t, deploymentYAML("web", 2, testImage), "create", "--validate=strict", "-f", "-")
		if !strings.Contains(out, "deployment.apps/web created") {
			t.Fatalf("create: %s", out)
		}
		waitReady(t, a, "app=web", 2, 60*time.Second)
		names := a.mustKubectl(t, "", "get", "pods", "-l", "app=web", "-o", "name")
		if n := len(strings.Fields(names)); n != 2 {
			t.Errorf("kubectl get pods -l app=web -o name: %d pods:\n%s", n, names)
		}
		if got := a.mustKubectl(t, "", "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"); got != "2" {
			t.Errorf("spec.replicas through kubectl: %q", got)
		}
	})
}
