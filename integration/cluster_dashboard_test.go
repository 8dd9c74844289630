package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/ui/uitest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// dashDeployment is a Deployment of the test image whose containers only
// sleep: what they log is written by the test (dashLogLine).
func dashDeployment(replicas int) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata: {name: dash}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: dash}
spec:
  replicas: %d
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %q, args: ["sleep", "infinity"]}
`, replicas, testImage)
}

// TestClusterDashboardInBrowser drives the dashboard of a real host of a
// 3-host cluster (scripts/cluster: real agents, one Docker Engine per host,
// real containers) in headless chromium: the three nodes, a Deployment's
// pods turning Running without a reload, a scale from the page, a log that
// streams a container's new lines (forwarded from another host), a
// restart, a rollback, a delete and a drain whose effect is checked on the
// engines, and a view token that is offered no action. api/ui's
// TestDashboardInBrowser covers the rest of the page against in-process
// agents.
func TestClusterDashboardInBrowser(t *testing.T) {
	path := uitest.Chromium(t) // SHOAL_TEST_DOCKER=1 here: a missing browser fails
	c := startCluster(t, 3)
	h1 := c.agent(1)
	admin := h1.client
	adminTok := uitest.NewToken(t, admin, "dash-admin", "cluster-admin")
	viewTok := uitest.NewToken(t, admin, "dash-view", "view")
	base := h1.url + "/ui/"
	b := uitest.NewBrowser(t, path)
	bg := context.Background()

	t.Run("loads and shows the three nodes", func(t *testing.T) {
		b.T = t
		b.Login(base, adminTok)
		b.WaitFor("three Ready nodes", `[...document.querySelectorAll('#nodes tbody tr')].filter(tr => tr.textContent.includes('Ready') && !tr.textContent.includes('NotReady')).length === 3`, 10*time.Second)
		b.WaitFor("the members' view", `document.querySelectorAll('#members tbody tr').length === 3 && document.getElementById('leader').textContent.trim() !== ''`, 20*time.Second)
		for _, h := range c.hosts {
			if !uitest.EvalAs[bool](b, fmt.Sprintf(`!!document.querySelector('#nodes tr[data-key="/%s"]')`, h.name)) {
				t.Errorf("node %s is not in the nodes table", h.name)
			}
		}
		b.Screenshot("cluster-nodes")
		b.NoErrors("loading the nodes view")
	})

	t.Run("a new Deployment's pods turn Running without a reload", func(t *testing.T) {
		b.T = t
		b.Show("pods")
		b.Run("mark the page", uitest.Eval(`window.shoalTestMark = 'same page'`))
		// The API's own view, polled beside the page, tells the page's lag
		// from the hosts' speed.
		apiRunning := make(chan time.Time, 1)
		pollCtx, stopPoll := context.WithCancel(bg)
		defer stopPoll()
		webSel, _ := api.ParseSelector("app=web")
		applied := time.Now()
		if _, err := admin.Apply(bg, "", dashDeployment(3), true); err != nil {
			t.Fatalf("apply: %v", err)
		}
		go func() {
			for pollCtx.Err() == nil {
				objs, _, err := admin.List(pollCtx, api.KindPod, "dash", api.ListOptions{LabelSelector: webSel})
				pods := make([]*api.Pod, 0, len(objs))
				for _, o := range objs {
					pods = append(pods, o.(*api.Pod))
				}
				if err == nil && runningCount(pods) == 3 {
					apiRunning <- time.Now()
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
		b.WaitFor("3 web pods Running on the page", uitest.RowsRunning("dash", "web-", 3), 30*time.Second)
		onPage := time.Now()
		var inAPI time.Time
		select {
		case inAPI = <-apiRunning:
		case <-time.After(5 * time.Second):
			t.Fatal("the page shows 3 Running pods the API does not list as Running")
		}
		t.Logf("the page showed the 3 pods Running %s after the apply; the API listed them Running after %s",
			onPage.Sub(applied).Round(time.Millisecond), inAPI.Sub(applied).Round(time.Millisecond))
		if d := onPage.Sub(applied); d > 2*time.Second {
			t.Errorf("the pods showed Running %s after the apply, want within 2 s", d.Round(time.Millisecond))
		}
		if lag := onPage.Sub(inAPI); lag > time.Second {
			t.Errorf("the page showed the pods Running %s after the API listed them so, want within 1 s (a watch, not a poll)", lag.Round(time.Millisecond))
		}
		if uitest.EvalAs[string](b, `String(window.shoalTestMark)`) != "same page" {
			t.Error("the page was reloaded")
		}
		// The rows are real containers, on more than one host's engine.
		hosts := map[string]bool{}
		for _, p := range h1.pods(t, "dash", "app=web") {
			hosts[p.Spec.NodeName] = true
			if len(p.Status.ContainerStatuses) == 0 {
				t.Errorf("%s: Running with no container status", p.Name)
				continue
			}
			id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "docker://")
			var i int
			fmt.Sscanf(p.Spec.NodeName, "h%d", &i)
			if state := c.docker(i, "inspect", "-f", "{{.State.Status}}", id); state != "running" {
				t.Errorf("%s: its container on %s is %q", p.Name, p.Spec.NodeName, state)
			}
		}
		if len(hosts) < 2 {
			t.Errorf("the 3 pods run on %v, want them spread", hosts)
		}
		b.Screenshot("cluster-pods")
		b.NoErrors("following the pods")
	})

	t.Run("scale from the page", func(t *testing.T) {
		b.T = t
		b.Show("workloads")
		row := `#workloads tr[data-key="Deployment:dash/web"]`
		b.WaitFor("the web Deployment complete", `(document.querySelector('`+row+`') || {textContent: ''}).textContent.includes('complete')`, 20*time.Second)
		b.WaitFor("the Scale button", `document.body.dataset.perms === 'ready' && !!document.querySelector('`+row+` .act-scale')`, 10*time.Second)
		b.Run("type 5", chromedp.SetValue(chromedp.CSS(row+" .scale-input"), "5"))
		b.Act("scale to 5", row+" .act-scale")
		poll.Until(t, 10*time.Second, "the Deployment scaled to 5", func() error {
			o, err := admin.Get(ctx(t), api.KindDeployment, "dash", "web")
			if err != nil {
				return err
			}
			if r := o.(*api.Deployment).Spec.Replicas; r == nil || *r != 5 {
				return fmt.Errorf("replicas %v (the page says %q)", r, uitest.EvalAs[string](b, `document.getElementById('banner').textContent`))
			}
			return nil
		})
		took := b.WaitFor("5/5 ready on the page", `document.querySelector('`+row+` td[data-label=Ready]').textContent === '5/5'`, 30*time.Second)
		t.Logf("5/5 ready on the page %s after the scale was stored", took.Round(time.Millisecond))
		if n := runningCount(h1.pods(t, "dash", "app=web")); n != 5 {
			t.Errorf("the page says 5/5, the API lists %d Running", n)
		}
		b.Screenshot("cluster-workloads")
		b.NoErrors("scaling")
	})

	t.Run("a log view streams new lines", func(t *testing.T) {
		b.T = t
		// A pod on another host than the page's agent: its log is
		// forwarded from that host's agent.
		var pod *api.Pod
		for _, p := range h1.pods(t, "dash", "app=web") {
			if p.Status.Phase == api.PodRunning && p.Spec.NodeName != h1.name && len(p.Status.ContainerStatuses) > 0 {
				pod = p
			}
		}
		if pod == nil {
			t.Fatal("no running web pod on h2 or h3")
		}
		var host int
		fmt.Sscanf(pod.Spec.NodeName, "h%d", &host)
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "docker://")
		// Lines written to the container's stdout, as its own process would:
		// the engine logs them.
		logLine := func(line string) {
			c.docker(host, "exec", id, "sh", "-c", "echo '"+line+"' > /proc/1/fd/1")
		}
		logLine("first line before following")
		b.Show("pod/dash/" + pod.Name)
		b.WaitFor("the pod's page", `document.getElementById('log-container').options.length === 1`, 10*time.Second)
		b.Run("follow", chromedp.Click(chromedp.ID("log-follow")))
		b.WaitFor("the earlier line", `document.getElementById('log').textContent.includes('first line before following')`, 10*time.Second)
		for i := 1; i <= 3; i++ {
			line := fmt.Sprintf("streamed line %d from %s", i, pod.Spec.NodeName)
			written := time.Now()
			logLine(line)
			b.WaitFor("a new log line", fmt.Sprintf(`document.getElementById('log').textContent.includes(%q)`, line), 10*time.Second)
			t.Logf("%q showed %s after the docker exec that wrote it started", line, time.Since(written).Round(time.Millisecond))
		}
		if uitest.EvalAs[string](b, `document.getElementById('log-state').textContent`) != "following" {
			t.Error("the log view stopped following")
		}
		b.Screenshot("cluster-logs")
		b.NoErrors("following a log")
		b.Run("stop following", chromedp.Click(chromedp.ID("log-stop")))
	})

	t.Run("restart, roll back, delete and drain from the page reach the engines", func(t *testing.T) {
		b.T = t
		// runningIDs maps each Running web pod to its host and container.
		type placed struct{ host, id string }
		runningIDs := func() map[string]placed {
			out := map[string]placed{}
			for _, p := range h1.pods(t, "dash", "app=web") {
				if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil && len(p.Status.ContainerStatuses) > 0 {
					out[p.Name] = placed{p.Spec.NodeName, strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "docker://")}
				}
			}
			return out
		}
		// engineState is a container's state on host h ("gone" if the
		// engine has no such container).
		engineState := func(host, id string) string {
			var i int
			fmt.Sscanf(host, "h%d", &i)
			out, err := c.agent(i).dockerIn("inspect", "-f", "{{.State.Status}}", id)
			if err != nil {
				return "gone"
			}
			return out
		}
		fiveRunningApartFrom := func(what string, old map[string]placed, exceptHost string) map[string]placed {
			var now map[string]placed
			poll.Until(t, 60*time.Second, what, func() error {
				now = runningIDs()
				if len(now) != 5 {
					return fmt.Errorf("%d web pods Running", len(now))
				}
				for name, p := range now {
					if _, ok := old[name]; ok {
						return fmt.Errorf("%s is still there", name)
					}
					if p.host == exceptHost {
						return fmt.Errorf("%s runs on %s", name, p.host)
					}
					if st := engineState(p.host, p.id); st != "running" {
						return fmt.Errorf("%s: its container on %s is %s", name, p.host, st)
					}
				}
				return nil
			})
			return now
		}

		before := runningIDs()
		b.Show("workloads")
		row := `#workloads tr[data-key="Deployment:dash/web"]`
		b.Act("restart", row+" .act-restart")
		restarted := fiveRunningApartFrom("5 new web pods after the restart, each with a running container", before, "")
		for name, p := range before {
			if st := engineState(p.host, p.id); st == "running" {
				t.Errorf("%s's container on %s still runs after the restart", name, p.host)
			}
		}
		b.WaitFor("the restart complete on the page", `document.querySelector('`+row+`').textContent.includes('complete')`, 30*time.Second)
		restartedAt := func() string {
			o, err := admin.Get(ctx(t), api.KindDeployment, "dash", "web")
			if err != nil {
				t.Fatal(err)
			}
			return o.(*api.Deployment).Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"]
		}
		if restartedAt() == "" {
			t.Error("the restart left no kubectl.kubernetes.io/restartedAt on the template")
		}

		// Roll back to the template before the restart: 5 pods of it again.
		b.Act("roll back", row+" .act-rollback")
		restarted = fiveRunningApartFrom("5 web pods of the template before the restart", restarted, "")
		if v := restartedAt(); v != "" {
			t.Errorf("after the rollback the template still has restartedAt %s", v)
		}
		b.WaitFor("the rollback complete on the page", `document.querySelector('`+row+`').textContent.includes('complete')`, 30*time.Second)

		// Delete a pod on a host other than the page's: its container goes.
		victim := ""
		for name, p := range restarted {
			if p.host != h1.name {
				victim = name
			}
		}
		if victim == "" {
			t.Fatalf("no web pod off %s: %v", h1.name, restarted)
		}
		b.Show("pods")
		prow := `#pods tr[data-key="dash/` + victim + `"]`
		b.WaitFor("the pod's row", `!!document.querySelector('`+prow+`')`, 10*time.Second)
		b.ActConfirmed("delete, then confirm", prow+" .act-delete")
		b.WaitFor("the pod's row gone", `!document.querySelector('`+prow+`')`, 20*time.Second)
		poll.Until(t, 20*time.Second, "the deleted pod's container gone from its engine", func() error {
			if st := engineState(restarted[victim].host, restarted[victim].id); st != "gone" {
				return fmt.Errorf("%s's container on %s is %s", victim, restarted[victim].host, st)
			}
			return nil
		})
		now := fiveRunningApartFrom("a replacement, 5 web pods Running", map[string]placed{victim: restarted[victim]}, "")

		// Drain h3 from the page: its pods move to the other hosts' engines.
		node := c.agent(3).name
		b.Show("nodes")
		nrow := `#nodes tr[data-key="/` + node + `"]`
		b.WaitFor("the Cordon button", `!!document.querySelector('`+nrow+` .act-cordon')`, 10*time.Second)
		b.Act("cordon", nrow+" .act-cordon")
		b.WaitFor("the Uncordon button", `!!document.querySelector('`+nrow+` .act-uncordon')`, 10*time.Second)
		b.ActConfirmed("drain", nrow+" .act-drain")
		onH3 := map[string]placed{}
		for name, p := range now {
			if p.host == node {
				onH3[name] = p
			}
		}
		fiveRunningApartFrom("5 web pods Running off "+node, onH3, node)
		for name, p := range onH3 {
			if st := engineState(p.host, p.id); st == "running" {
				t.Errorf("%s's container still runs on %s after the drain", name, node)
			}
		}
		t.Logf("drained %d web pods off %s", len(onH3), node)
		b.Act("uncordon", nrow+" .act-uncordon")
		poll.Until(t, 10*time.Second, "the node uncordoned", func() error {
			o, err := admin.Get(ctx(t), api.KindNode, "", node)
			if err != nil {
				return err
			}
			if o.(*api.Node).Spec.Unschedulable {
				return fmt.Errorf("%s is still unschedulable", node)
			}
			return nil
		})
		b.Screenshot("cluster-drained")
		b.NoErrors("restart, delete and drain")
	})

	t.Run("a view token sees no action buttons", func(t *testing.T) {
		b.T = t
		// The server refuses anyway: a scale sent with the view token.
		b.ExpectViewOnly(base, viewTok, "dash", "web")
	})
}

// runningCount counts the Running pods that are not being deleted.
func runningCount(pods []*api.Pod) int {
	n := 0
	for _, p := range pods {
		if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}
