package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// fixedNow is the clock of every CLI test, so that ages are exact.
var fixedNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) api.Time { return api.NewTime(fixedNow.Add(-d)) }

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	stdout, stderr string
	code           int
}

// wrongToken has the form of a token but is none of the server's.
const wrongToken = "someone.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func namespace(name string) *api.Namespace {
	return &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}}
}

// shoal runs the CLI against srv, as the admin, with args and returns what
// it printed. Arguments may override --token.
func shoal(t *testing.T, srv *clienttest.Server, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errOut syncBuffer
	code := shoalCtx(ctx, srv, stdin, &out, &errOut, args...)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

func shoalCtx(ctx context.Context, srv *clienttest.Server, stdin string, out, errOut *syncBuffer, args ...string) int {
	root := newRoot(&env{now: func() time.Time { return fixedNow }}, nil)
	root.SetArgs(append([]string{"--server", srv.URL, "--token", srv.Token}, args...))
	root.SetOut(out)
	root.SetErr(errOut)
	root.SetIn(strings.NewReader(stdin))
	return run(ctx, root)
}

func expectOK(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit status %d, stderr:\n%s", r.code, r.stderr)
	}
}

func running(name, ns string, created api.Time) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: created, Labels: map[string]string{"app": "web"}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "nginx"}}},
		Status: api.PodStatus{Phase: api.PodRunning, PodIP: "10.244.1.5",
			Conditions: []api.Condition{{Type: api.PodReady, Status: api.ConditionTrue}},
			ContainerStatuses: []api.ContainerStatus{{Name: "app", Ready: true,
				State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: created}}}}},
	}
}

func waiting(name, reason string, created api.Time, restarts int32) *api.Pod {
	p := running(name, "default", created)
	p.Status.Conditions = nil
	p.Status.ContainerStatuses[0] = api.ContainerStatus{Name: "app", RestartCount: restarts,
		State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: reason}}}
	return p
}

func deployment(name string, want, ready, updated, available int32, created api.Time) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created, Labels: labels},
		Spec: api.DeploymentSpec{
			Replicas: api.Int32(want),
			Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec:       api.PodSpec{Containers: []api.Container{{Name: name, Image: "nginx:1.27"}}},
			},
		},
		Status: api.DeploymentStatus{ObservedGeneration: 1, Replicas: want, ReadyReplicas: ready, UpdatedReplicas: updated,
			AvailableReplicas: available},
	}
}

func init() {
	// The tests talk to their own servers: no kubeconfig of the machine's
	// (a root user on a host running an agent has one) may leak in.
	os.Setenv("KUBECONFIG", filepath.Join(os.TempDir(), "shoal-cli-test-no-kubeconfig"))
}
