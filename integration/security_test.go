package integration

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// TestAPIAsksWhoYouAre: without a credential nothing but the public paths
// answers, plain HTTP and an untrusted CA are refused with a message that
// says what to do, and nothing is stored by a refused request.
func TestAPIAsksWhoYouAre(t *testing.T) {
	a := startAgent(t)
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	ca, err := os.ReadFile(a.caFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := tlsPool(t, ca)
	tc.RootCAs = pool
	anon := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tc}}

	for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		resp, err := anon.Get(a.url() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s without a credential: %d, want 200", p, resp.StatusCode)
		}
	}
	status := func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: anon}\ndata: {a: b}\n"
	for _, req := range []func() (*http.Response, error){
		func() (*http.Response, error) { return anon.Get(a.url() + "/api/v1/namespaces/default/pods") },
		func() (*http.Response, error) { return anon.Get(a.url() + "/api/v1/namespaces/default/secrets") },
		func() (*http.Response, error) {
			return anon.Post(a.url()+"/shoal/v1/apply", "application/yaml", strings.NewReader(cm))
		},
		func() (*http.Response, error) { return anon.Get(a.url() + "/shoal/v1/join-token") },
	} {
		code, body := status(req())
		if code != http.StatusUnauthorized || !strings.Contains(body, `"reason":"Unauthorized"`) || !strings.Contains(body, "bearer token") {
			t.Errorf("anonymous request: %d %s", code, body)
		}
	}
	// A token that is not one of this cluster's.
	req, _ := http.NewRequest(http.MethodGet, a.url()+"/api/v1/namespaces/default/pods", nil)
	req.Header.Set("Authorization", "Bearer admin."+strings.Repeat("a", 52))
	if code, body := status(anon.Do(req)); code != http.StatusUnauthorized || !strings.Contains(body, "not valid") {
		t.Errorf("forged token: %d %s", code, body)
	}
	if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", "anon"); !api.IsNotFound(err) {
		t.Fatalf("an anonymous apply stored something: %v", err)
	}

	// Plain HTTP on the API port: a 400 that says to use https.
	plain := strings.Replace(a.url(), "https://", "http://", 1)
	code, body := status(http.Get(plain + "/api/v1/pods"))
	if code != http.StatusBadRequest || !strings.Contains(body, "HTTPS only") || !strings.Contains(body, a.url()) {
		t.Errorf("plain HTTP: %d %s", code, body)
	}
	// The CLI pointed at http:// says the same.
	_, errOut, err := a.shoalIn(nil, "--server", plain, "get", "pods")
	if err == nil || !strings.Contains(errOut, "HTTPS only") {
		t.Errorf("CLI over plain HTTP: %v %s", err, errOut)
	}
	// A client that does not trust the cluster's CA is told why.
	_, errOut, err = a.shoalIn(nil, "--kubeconfig", os.DevNull, "--server", a.url(), "--token", "x", "get", "pods")
	if err == nil || !strings.Contains(errOut, "does not trust") || !strings.Contains(errOut, "admin.kubeconfig") {
		t.Errorf("CLI without the CA: %v %s", err, errOut)
	}
	// The admin credentials the agent wrote are the owner's only.
	if fi, err := os.Stat(a.kubeconfig()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.kubeconfig: %v %v", fi.Mode(), err)
	}
	// The local socket is the host's administrator.
	out := a.shoal("--server", "unix://"+filepath.Join(a.dataDir, "shoal.sock"), "auth", "whoami")
	if !strings.Contains(out, "system:masters") {
		t.Errorf("whoami over the local socket:\n%s", out)
	}
}

// TestTokensAndRoles: tokens of the built-in roles can do what Kubernetes'
// roles of those names can, and no more; denials name the verb, resource
// and namespace; a role cannot be handed out by someone who lacks it; a
// revoked token stops working at once.
func TestTokensAndRoles(t *testing.T) {
	a := startAgent(t)
	for _, ns := range []string{"a", "b"} {
		a.shoal("create", "namespace", ns)
	}
	a.shoalIn([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: a}\nstringData: {k: v}\n"), "apply", "-f", "-")
	token := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(a.shoal(append([]string{"token", "create"}, args...)...))
	}
	viewer := token("viewer", "--role", "view")
	dev := token("dev", "--role", "edit", "-n", "a")
	owner := token("owner", "--role", "admin", "-n", "a")
	as := func(tok string, args ...string) (string, string, error) {
		return a.shoalIn(nil, append([]string{"--token", tok}, args...)...)
	}
	ok := func(tok string, args ...string) string {
		t.Helper()
		out, errOut, err := as(tok, args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, errOut)
		}
		return out
	}
	denied := func(tok string, want string, args ...string) {
		t.Helper()
		_, errOut, err := as(tok, args...)
		if err == nil || !strings.Contains(errOut, "Forbidden") || !strings.Contains(errOut, want) {
			t.Fatalf("%s: want a 403 mentioning %q, got %v\n%s", strings.Join(args, " "), want, err, errOut)
		}
	}

	// view: reads pods everywhere, writes nothing, reads no Secret.
	ok(viewer, "get", "pods", "-A")
	ok(viewer, "get", "nodes")
	depA := strings.Replace(deploymentYAML("web", 1, testImage), "metadata:\n  name: web", "metadata:\n  name: web\n  namespace: a", 1)
	if _, errOut, err := a.shoalIn([]byte(depA), "--token", viewer, "apply", "-f", "-"); err == nil ||
		!strings.Contains(errOut, `User "viewer" cannot create resource "deployments" in API group "apps" in the namespace "a"`) {
		t.Fatalf("view token creating a deployment: %v %s", err, errOut)
	}
	denied(viewer, `cannot get resource "secrets" in API group "" in the namespace "a"`, "-n", "a", "get", "secret", "s")
	denied(viewer, `cannot list resource "secrets"`, "-n", "a", "get", "secrets")
	if out, _, _ := as(viewer, "auth", "can-i", "get", "secrets", "-n", "a"); strings.TrimSpace(out) != "no" {
		t.Errorf("can-i get secrets as viewer: %q", out)
	}
	if out := ok(viewer, "auth", "can-i", "list", "pods", "-n", "b"); strings.TrimSpace(out) != "yes" {
		t.Errorf("can-i list pods as viewer: %q", out)
	}

	// edit in namespace a: works there, nowhere else.
	if _, errOut, err := a.shoalIn([]byte(depA), "--token", dev, "apply", "-f", "-"); err != nil {
		t.Fatalf("edit token in its namespace: %v %s", err, errOut)
	}
	ok(dev, "-n", "a", "get", "secret", "s")
	denied(dev, `in the namespace "b"`, "-n", "b", "get", "pods")
	depB := strings.Replace(depA, "namespace: a", "namespace: b", 1)
	_, errOut, err := a.shoalIn([]byte(depB), "--token", dev, "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, `in the namespace "b"`) {
		t.Fatalf("edit token applying into b: %v %s", err, errOut)
	}
	if _, err := a.client.Get(ctx(t), api.KindDeployment, "b", "web"); !api.IsNotFound(err) {
		t.Fatalf("a refused apply stored the deployment in b: %v", err)
	}
	denied(dev, `cannot list resource "pods" in API group "" at the cluster scope`, "get", "pods", "-A")
	rb := func(ns, role string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: grant-" + role + ", namespace: " + ns + "}\n" +
			"subjects: [{kind: User, name: someone}]\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: " + role + "}\n"
	}
	if _, errOut, err := a.shoalIn([]byte(rb("a", "view")), "--token", dev, "apply", "-f", "-"); err == nil || !strings.Contains(errOut, "rolebindings") {
		t.Fatalf("edit token created a RoleBinding: %v %s", err, errOut)
	}

	// admin of a: may bind what it holds in a, not more, and not cluster-wide.
	if _, errOut, err := a.shoalIn([]byte(rb("a", "edit")), "--token", owner, "apply", "-f", "-"); err != nil {
		t.Fatalf("namespace admin binding edit: %v %s", err, errOut)
	}
	a.shoalIn([]byte("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: node-writer}\n"+
		"rules: [{apiGroups: [''], resources: [nodes], verbs: [update, patch]}]\n"), "apply", "-f", "-")
	_, errOut, err = a.shoalIn([]byte(rb("a", "node-writer")), "--token", owner, "apply", "-f", "-")
	if err == nil || !strings.Contains(errOut, "may not grant permissions it does not have") || !strings.Contains(errOut, "update nodes") {
		t.Fatalf("namespace admin escalating: %v %s", err, errOut)
	}
	crb := "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: sneaky}\n" +
		"subjects: [{kind: User, name: owner}]\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\n"
	if _, errOut, err := a.shoalIn([]byte(crb), "--token", owner, "apply", "-f", "-"); err == nil || !strings.Contains(errOut, "clusterrolebindings") {
		t.Fatalf("namespace admin made itself cluster-admin: %v %s", err, errOut)
	}
	// Only cluster administrators see the join token and tokens.
	denied(owner, "join-token", "join-token")
	denied(viewer, `cannot list resource "tokens"`, "token", "list")

	// The list shows each token's role; a revoked token fails at once.
	list := a.shoal("token", "list")
	for _, want := range []string{"viewer", "view", "dev", "edit (a)", "owner", "admin (a)"} {
		if !strings.Contains(list, want) {
			t.Errorf("token list lacks %q:\n%s", want, list)
		}
	}
	a.shoal("token", "revoke", "viewer")
	start := time.Now()
	poll.Until(t, 2*time.Second, "the revoked token refused", func() error {
		_, errOut, err := as(viewer, "get", "pods")
		if err == nil || !strings.Contains(errOut, "Unauthorized") {
			return errf("still accepted: %v %s", err, errOut)
		}
		return nil
	})
	t.Logf("revoked token refused %s after the revoke returned", time.Since(start).Round(time.Millisecond))
	if strings.Contains(a.shoal("get", "clusterrolebindings"), "token:viewer") {
		t.Error("the revoked token's binding is left")
	}

	// An expired token is refused.
	short := token("short", "--role", "view", "--ttl", "2s")
	ok(short, "get", "pods")
	poll.Until(t, 10*time.Second, "the expired token refused", func() error {
		if _, _, err := as(short, "get", "pods"); err == nil {
			return errf("still accepted")
		}
		return nil
	})
}

// TestSecretValueNeverLeaks: a canary Secret, used as env and as a file,
// reaches the container, and appears nowhere else: not in state.db's
// bytes, the agent's log, Events, describe output or error messages.
func TestSecretValueNeverLeaks(t *testing.T) {
	a := startAgent(t)
	canary := "canary-" + randomSuffix() + randomSuffix()
	manifest := `apiVersion: v1
kind: Secret
metadata: {name: db}
stringData: {password: ` + canary + `}
---
apiVersion: v1
kind: Pod
metadata: {name: app}
spec:
  containers:
  - name: app
    image: ` + testImage + `
    args: ["sleep", "infinity"]
    env: [{name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}]
    volumeMounts: [{name: s, mountPath: /etc/db}]
  volumes: [{name: s, secret: {secretName: db}}]
`
	a.shoalIn([]byte(manifest), "apply", "-f", "-")
	poll.Until(t, 60*time.Second, "the pod running", func() error {
		p := a.pods(t, "default", "")
		if len(p) != 1 || p[0].Status.Phase != api.PodRunning {
			return errf("%d pods", len(p))
		}
		return nil
	})
	// It reached the container, both ways.
	if out := a.shoal("exec", "app", "--", "sh", "-c", "echo $PASSWORD; cat /etc/db/password"); strings.Count(out, canary) != 2 {
		t.Fatalf("the container did not get the secret:\n%s", out)
	}
	// Error messages: invalid updates that carry the value.
	bad := []string{
		"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {'bad key!': " + canary + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ntype: kubernetes.io/tls\nstringData: {tls.crt: " + canary + ", tls.key: " + canary + "}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: '" + canary + "%%'}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: [" + canary + "]}\n",
		"apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {password: '" + canary + "!!'}\n",
	}
	var errs strings.Builder
	for _, b := range bad {
		_, errOut, err := a.shoalIn([]byte(b), "apply", "-f", "-")
		if err == nil {
			t.Errorf("invalid secret accepted:\n%s", b)
		}
		errs.WriteString(errOut)
	}
	// Debug output of the CLI and the API's describe, events and get.
	outputs := map[string]string{
		"describe secret": a.shoal("describe", "secret", "db"),
		"describe pod":    a.shoal("describe", "pod", "app"),
		"events":          a.shoal("get", "events", "-o", "yaml"),
		"error messages":  errs.String(),
	}
	time.Sleep(time.Second) // let the agent log what it would
	log, err := os.ReadFile(filepath.Join(a.dataDir, "agent.log"))
	if err != nil {
		t.Fatal(err)
	}
	outputs["agent log (debug)"] = string(log)
	db, err := os.ReadFile(filepath.Join(a.dataDir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	outputs["state.db"] = string(db)
	// The value as it is, and as JSON carries a Secret's data (base64).
	forms := []string{canary, base64.StdEncoding.EncodeToString([]byte(canary))}
	for what, text := range outputs {
		for _, f := range forms {
			if strings.Contains(text, f) {
				t.Errorf("the secret's value appears in %s (as %q)", what, f)
			}
		}
	}
	if !strings.Contains(outputs["describe secret"], "password:") || !strings.Contains(outputs["describe secret"], "bytes") {
		t.Errorf("describe secret should list the key and its size:\n%s", outputs["describe secret"])
	}
	// Stored sealed, the value is still served to those allowed to read it.
	s, err := a.client.Get(ctx(t), api.KindSecret, "default", "db")
	if err != nil || !bytes.Equal(s.(*api.Secret).Data["password"], []byte(canary)) {
		t.Fatalf("reading the secret back: %v", err)
	}
	// And a restart reads it back from the sealed store.
	a.stop(syscall.SIGTERM)
	a.start()
	if s, err := a.client.Get(ctx(t), api.KindSecret, "default", "db"); err != nil || !bytes.Equal(s.(*api.Secret).Data["password"], []byte(canary)) {
		t.Fatalf("after a restart: %v", err)
	}
	out := a.shoal("encryption", "rotate")
	if !strings.Contains(out, "sealed again") {
		t.Fatalf("encryption rotate: %s", out)
	}
	db, _ = os.ReadFile(filepath.Join(a.dataDir, "state.db"))
	for _, f := range forms {
		if bytes.Contains(db, []byte(f)) {
			t.Fatal("the secret's value is in state.db after a key rotation")
		}
	}
	if s, err := a.client.Get(ctx(t), api.KindSecret, "default", "db"); err != nil || !bytes.Equal(s.(*api.Secret).Data["password"], []byte(canary)) {
		t.Fatalf("after a key rotation: %v", err)
	}
}

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func tlsPool(t *testing.T, pemData []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemData) {
		t.Fatal("no certificate in the CA file")
	}
	return p
}

// TestNodeCertificateRenewsItself: an agent renews its certificate when a
// third of its life is left, with no restart and no client noticing.
func TestNodeCertificateRenewsItself(t *testing.T) {
	a := startAgent(t, "--node-cert-validity", "1m")
	certFile := filepath.Join(a.dataDir, "identity", "node.crt")
	first := readFile(t, certFile)
	start := time.Now()
	poll.Until(t, 90*time.Second, "a renewed certificate", func() error {
		if bytes.Equal(readFile(t, certFile), first) {
			return errf("still the first certificate")
		}
		return nil
	})
	t.Logf("renewed after %s (a 1-minute certificate renews when 20 s are left)", time.Since(start).Round(time.Second))
	if time.Since(start) < 30*time.Second {
		t.Errorf("renewed after %s: too early for a 1-minute certificate", time.Since(start))
	}
	// The API serves the new certificate to clients that trust the CA.
	blk, _ := pem.Decode(first)
	old, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 10*time.Second, "the API with the new certificate", func() error {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(a.url(), "https://"), &tls.Config{RootCAs: tlsPool(t, readFile(t, a.caFile()))})
		if err != nil {
			return err
		}
		defer conn.Close()
		if served := conn.ConnectionState().PeerCertificates[0]; served.SerialNumber.Cmp(old.SerialNumber) == 0 {
			return errf("still serving the first certificate")
		}
		return nil
	})
	a.shoal("get", "nodes")
}
