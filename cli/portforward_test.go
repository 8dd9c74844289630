package cli

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client/clienttest"
)

// echoServer answers every connection with what it reads, upper-cased.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				_, _ = io.WriteString(c, strings.ToUpper(line))
			}()
		}
	}()
	return l.Addr().String()
}

var forwardingFrom = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)`)

// forward runs port-forward until the test ends and returns the local
// address and the pod port it forwards to.
func forward(t *testing.T, srv *clienttest.Server, args ...string) (local, remote string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- shoalCtx(ctx, srv, "", &out, &errOut, append([]string{"port-forward"}, args...)...) }()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 130 {
			t.Errorf("port-forward ended with %d: %s", code, errOut.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := forwardingFrom.FindStringSubmatch(out.String()); m != nil {
			return "127.0.0.1:" + m[1], m[2]
		}
		if time.Now().After(deadline) {
			t.Fatalf("port-forward is not listening; stdout %q stderr %q", out.String(), errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("reading through the forward: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestPortForward(t *testing.T) {
	srv := clienttest.NewServer(t)
	echo := echoServer(t)
	var mu sync.Mutex
	var dialed []string
	srv.Dial = func(ctx context.Context, ns, pod string, port uint16) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, ns+"/"+pod+":"+strconv.Itoa(int(port)))
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, "tcp", echo)
	}
	web := running("web-1", "default", ago(time.Hour))
	web.Spec.Containers[0].Ports = []api.ContainerPort{{Name: "http", ContainerPort: 80}}
	pending := waiting("web-0", "ContainerCreating", ago(time.Hour), 0)
	pending.Status.Phase = api.PodPending
	srv.Add(web, pending,
		&api.Service{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: api.ServiceSpec{Selector: map[string]string{"app": "web"},
				Ports: []api.ServicePort{{Name: "front", Port: 8080, TargetPort: api.FromString("http")}}}})

	local, remote := forward(t, srv, "pod/web-1", "0:80")
	if remote != "80" {
		t.Fatalf("forwards to %s", remote)
	}
	if got := roundTrip(t, local, "hello"); got != "HELLO" {
		t.Fatalf("through pod/web-1: %q", got)
	}
	// A Service's port becomes its target port, by name, on a running pod.
	local, remote = forward(t, srv, "svc/web", ":8080")
	if remote != "80" {
		t.Fatalf("svc/web 8080 forwards to %s, want its target port 80", remote)
	}
	if got := roundTrip(t, local, "via service"); got != "VIA SERVICE" {
		t.Fatalf("through svc/web: %q", got)
	}
	mu.Lock()
	got := strings.Join(dialed, " ")
	mu.Unlock()
	if got != "default/web-1:80 default/web-1:80" {
		t.Fatalf("dialed %q", got)
	}
	// As kubectl: SPDY tunnelled through a websocket.
	for _, q := range srv.Requests() {
		if strings.HasSuffix(q.Path, "/portforward") && (q.Method != "GET" || !strings.EqualFold(q.Header.Get("Upgrade"), "websocket")) {
			t.Fatalf("port-forward request %s %s with Upgrade %q, want a websocket", q.Method, q.Path, q.Header.Get("Upgrade"))
		}
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"port-forward", "pod/web-1"}, "requires at least 2 arg(s)"},
		{[]string{"port-forward", "pod/web-1", "8080:"}, "give the pod's port after the colon"},
		{[]string{"port-forward", "pod/web-1", "99999:80"}, `the local port "99999" is not a number from 0 to 65535`},
		{[]string{"port-forward", "pod/web-1", "8080:0"}, "the pod's port must be from 1 to 65535"},
		{[]string{"port-forward", "pod/web-1", "8080:Bad_Port"}, "neither a number from 1 to 65535 nor a port name"},
		{[]string{"port-forward", "pod/web-1", "8080:metrics"}, `pod/web-1 has no container port named "metrics"`},
		{[]string{"port-forward", "pod/web-0", "8080:80"}, "pod is not running. Current status=Pending"},
		{[]string{"port-forward", "svc/web", "8080:9999"}, "service/web does not have a service port 9999"},
		{[]string{"port-forward", "pod/nope", "8080:80"}, `pods "nope" not found`},
		{[]string{"port-forward", "widget/x", "80"}, `the server doesn't have a resource type "widget"`},
	} {
		if r := shoal(t, srv, "", c.args...); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
	}
}
