package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// completions runs `shoal __complete ARGS...` as a shell would and
// returns the offered words (without cobra's directive line).
func completions(t *testing.T, srv *clienttest.Server, args ...string) []string {
	t.Helper()
	r := shoal(t, srv, "", append([]string{"__complete"}, args...)...)
	expectOK(t, r)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line != "" && !strings.HasPrefix(line, ":") {
			out = append(out, strings.SplitN(line, "\t", 2)[0])
		}
	}
	return out
}

func TestCompletion(t *testing.T) {
	srv := clienttest.NewServer(t)
	srv.Add(namespace("team-a"), running("web-1", "default", ago(time.Hour)), running("web-2", "default", ago(time.Hour)),
		running("api-1", "team-a", ago(time.Hour)), deployment("web", 1, 1, 1, 1, ago(time.Hour)))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "pods", ""}, "web-1 web-2"},
		{[]string{"get", "pods", "w"}, "web-1 web-2"},
		{[]string{"get", "pods", "web-1", ""}, "web-2"},
		{[]string{"get", "-n", "team-a", "pods", ""}, "api-1"},
		{[]string{"describe", "deploy/"}, "deploy/web"},
		{[]string{"get", "deployme"}, "deployments"},
		{[]string{"logs", ""}, "web-1 web-2"},
		{[]string{"label", "pods", ""}, "web-1 web-2"},
		{[]string{"get", "pods", "-n", ""}, "default shoal-system team-a"},
	} {
		got := strings.Join(completions(t, srv, c.args...), " ")
		if got != c.want {
			t.Errorf("%q: completions %q, want %q", c.args, got, c.want)
		}
	}
	// Each shell's script comes out.
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := shoal(t, srv, "", "completion", sh)
		expectOK(t, r)
		if !strings.Contains(r.stdout, "__complete") {
			t.Errorf("completion %s: the script does not call __complete", sh)
		}
	}
}

func TestCompletionOfContexts(t *testing.T) {
	p := writeKubeconfig(t, t.TempDir(), "kc", "https://first:7480", "first.secrettoken", "team")
	var out syncBuffer
	r := newRoot(&env{}, nil)
	r.SetArgs([]string{"__complete", "--kubeconfig", p, "config", "use-context", ""})
	r.SetOut(&out)
	if err := r.Execute(); err != nil {
		t.Fatal(err)
	}
	kc, err := client.LoadKubeconfig(p)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Fields(out.String())
	want := append(kc.ContextNames(), ":4")
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("contexts offered %q, want %q", got, want)
	}
}
