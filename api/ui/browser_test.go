package ui_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
	"github.com/shoal-dev/shoal/api/ui/uitest"
	"github.com/shoal-dev/shoal/daemon/scaletest"
	"github.com/shoal-dev/shoal/internal/poll"
)

// The dashboard's browser tests drive Debian's chromium, headless, against
// three real agents in this process (daemon/scaletest: each with its own
// identity, store, gossip, API, controllers, scheduler and runner) whose
// container engine is the fake one, so that they need no Docker Engine.

func deployment(ns, name string, replicas int) []byte {
	return fmt.Appendf(nil, `apiVersion: v1
kind: Namespace
metadata: {name: %s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %s, namespace: %s}
spec:
  replicas: %d
  selector: {matchLabels: {app: %s}}
  template:
    metadata: {labels: {app: %s}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: app, image: %q, args: ["sleep", "infinity"]}
`, ns, name, ns, replicas, name, name, scaletest.AppImage)
}

// runningPods counts the Running pods of app in ns, through the API.
func runningPods(ctx context.Context, c *client.Client, ns, app string) (int, []*api.Pod, error) {
	sel, _ := api.ParseSelector("app=" + app)
	objs, _, err := c.List(ctx, api.KindPod, ns, api.ListOptions{LabelSelector: sel})
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var pods []*api.Pod
	for _, o := range objs {
		p := o.(*api.Pod)
		pods = append(pods, p)
		if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n, pods, nil
}

func TestDashboardInBrowser(t *testing.T) {
	path := uitest.Chromium(t)
	c := scaletest.Start(t, scaletest.Options{Agents: 3, Pods: 1000})
	agents := c.Agents()
	admin := agents[0].Client
	adminTok := uitest.NewToken(t, admin, "dash-admin", "cluster-admin")
	viewTok := uitest.NewToken(t, admin, "dash-view", "view")
	base := "https://" + agents[0].APIAddr + "/ui/"
	b := uitest.NewBrowser(t, path)
	if raceEnabled {
		b.Slow = 4
	}
	ctx := context.Background()

	t.Run("loads and shows the three nodes", func(t *testing.T) {
		b.T = t
		b.Login(base, adminTok)
		b.WaitFor("three Ready nodes", `[...document.querySelectorAll('#nodes tbody tr')].filter(tr => tr.textContent.includes('Ready') && !tr.textContent.includes('NotReady')).length === 3`, 10*time.Second)
		b.WaitFor("the members' view", `document.querySelectorAll('#members tbody tr').length === 3 && document.getElementById('leader').textContent.includes('`+agents[0].Name+`')`, 20*time.Second)
		for _, a := range agents {
			if !uitest.EvalAs[bool](b, fmt.Sprintf(`!!document.querySelector('#nodes tr[data-key="/%s"]')`, a.Name)) {
				t.Errorf("node %s is not in the nodes table", a.Name)
			}
		}
		if !uitest.EvalAs[bool](b, `document.querySelectorAll('#nodes .act-cordon').length === 3`) {
			t.Error("an admin sees no Cordon button on each node")
		}
		inURL := uitest.EvalAs[bool](b, fmt.Sprintf(`location.href.includes(%q)`, adminTok))
		stored := uitest.EvalAs[string](b, `sessionStorage.getItem('shoal.token')`)
		if inURL || stored != adminTok {
			t.Errorf("the token: in the URL %v, in sessionStorage %v; want only in sessionStorage", inURL, stored == adminTok)
		}
		b.Screenshot("nodes")
		b.NoErrors("loading the nodes view")
	})

	t.Run("a new Deployment's pods turn Running without a reload", func(t *testing.T) {
		b.T = t
		b.Show("pods")
		b.Run("mark the page", uitest.Eval(`window.shoalTestMark = 'same page'`))
		// The API's own view, polled beside the page, tells the page's lag
		// from the agents' speed.
		apiRunning := make(chan time.Time, 1)
		pollCtx, stopPoll := context.WithCancel(ctx)
		defer stopPoll()
		applied := time.Now()
		if _, err := admin.Apply(ctx, "", deployment("dash", "web", 3), true); err != nil {
			t.Fatalf("apply: %v", err)
		}
		go func() {
			for pollCtx.Err() == nil {
				if n, _, err := runningPods(pollCtx, admin, "dash", "web"); err == nil && n == 3 {
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
		lag := max(onPage.Sub(inAPI), 0)
		t.Logf("the page showed the 3 pods Running %s after the apply; the API listed them Running after %s",
			onPage.Sub(applied).Round(time.Millisecond), inAPI.Sub(applied).Round(time.Millisecond))
		// Under -race the agents run several times slower; the page's lag
		// behind the API is the dashboard's own part and is held to 1 s.
		limit := 2 * time.Second
		if raceEnabled {
			limit = 10 * time.Second
		}
		if d := onPage.Sub(applied); d > limit {
			t.Errorf("the pods showed Running %s after the apply, want within %s", d.Round(time.Millisecond), limit)
		}
		if lag > time.Second {
			t.Errorf("the page showed the pods Running %s after the API listed them so, want within 1 s (a watch, not a poll)", lag.Round(time.Millisecond))
		}
		if uitest.EvalAs[string](b, `String(window.shoalTestMark)`) != "same page" {
			t.Error("the page was reloaded")
		}
		b.Screenshot("pods")
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
			o, err := admin.Get(ctx, api.KindDeployment, "dash", "web")
			if err != nil {
				return err
			}
			if r := o.(*api.Deployment).Spec.Replicas; r == nil || *r != 5 {
				return fmt.Errorf("replicas %d (the page says %q, its input holds %q)", *r,
					uitest.EvalAs[string](b, `document.getElementById('banner').textContent`),
					uitest.EvalAs[string](b, `(document.querySelector('`+row+` .scale-input') || {value: 'no input'}).value`))
			}
			return nil
		})
		b.WaitFor("5/5 ready on the page", `document.querySelector('`+row+` td[data-label=Ready]').textContent === '5/5'`, 30*time.Second)
		b.Screenshot("workloads")
		b.NoErrors("scaling")
	})

	t.Run("a log view streams new lines", func(t *testing.T) {
		b.T = t
		_, pods, err := runningPods(ctx, admin, "dash", "web")
		if err != nil || len(pods) == 0 {
			t.Fatalf("web pods: %v", err)
		}
		var pod *api.Pod
		for _, p := range pods {
			// One on another agent than the page's: the log is forwarded.
			if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) > 0 && (pod == nil || p.Spec.NodeName != agents[0].Name) {
				pod = p
			}
		}
		if pod == nil {
			t.Fatal("no running web pod")
		}
		var eng *scaletest.Agent
		for _, a := range agents {
			if a.Name == pod.Spec.NodeName {
				eng = a
			}
		}
		id := strings.TrimPrefix(pod.Status.ContainerStatuses[0].ContainerID, "docker://")
		if err := eng.Engine.AppendLogs(id, "first line before following\n"); err != nil {
			t.Fatal(err)
		}
		b.Show("pod/dash/" + pod.Name)
		b.WaitFor("the pod's page", `document.getElementById('log-container').options.length === 1`, 10*time.Second)
		b.Run("follow", chromedp.Click(chromedp.ID("log-follow")))
		b.WaitFor("the earlier line", `document.getElementById('log').textContent.includes('first line before following')`, 10*time.Second)
		for i := 1; i <= 3; i++ {
			line := fmt.Sprintf("streamed line %d from %s", i, pod.Spec.NodeName)
			if err := eng.Engine.AppendLogs(id, line+"\n"); err != nil {
				t.Fatal(err)
			}
			took := b.WaitFor("a new log line", fmt.Sprintf(`document.getElementById('log').textContent.includes(%q)`, line), 10*time.Second)
			t.Logf("%q showed after %s", line, took.Round(time.Millisecond))
		}
		if uitest.EvalAs[string](b, `document.getElementById('log-state').textContent`) != "following" {
			t.Error("the log view stopped following")
		}
		b.Screenshot("logs")
		b.NoErrors("following a log")
		b.Run("stop following", chromedp.Click(chromedp.ID("log-stop")))
	})

	t.Run("a Service shows its endpoints", func(t *testing.T) {
		b.T = t
		b.Show("services")
		svc := []byte(`apiVersion: v1
kind: Service
metadata: {name: web, namespace: dash}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)
		if _, err := admin.Apply(ctx, "", svc, true); err != nil {
			t.Fatalf("apply: %v", err)
		}
		row := `#services tr[data-key="dash/web"]`
		b.WaitFor("5 endpoint addresses on the page", `(document.querySelector('`+row+` td[data-label=Endpoints]') || {textContent: ''}).textContent.split(':8080').length - 1 === 5`, 20*time.Second)
		b.Screenshot("services")
		b.NoErrors("services")
	})

	t.Run("restart, roll back, delete with confirmation, cordon and drain", func(t *testing.T) {
		b.T = t
		getDeploy := func() *api.Deployment {
			o, err := admin.Get(ctx, api.KindDeployment, "dash", "web")
			if err != nil {
				t.Fatal(err)
			}
			return o.(*api.Deployment)
		}
		restartedAt := func() string { return getDeploy().Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] }
		b.Show("workloads")
		row := `#workloads tr[data-key="Deployment:dash/web"]`
		b.WaitFor("the web Deployment complete", `(document.querySelector('`+row+`') || {textContent: ''}).textContent.includes('complete')`, 30*time.Second)
		b.Act("restart", row+" .act-restart")
		poll.Until(t, 10*time.Second, "the restart annotation", func() error {
			if restartedAt() == "" {
				return fmt.Errorf("no kubectl.kubernetes.io/restartedAt on the template yet")
			}
			return nil
		})
		b.WaitFor("the restart rolled out", `document.querySelector('`+row+`').textContent.includes('complete')`, 30*time.Second)
		rolledOut := func(what string) {
			poll.Until(t, 30*time.Second, what, func() error {
				d := getDeploy()
				if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != 5 || d.Status.AvailableReplicas != 5 || d.Status.Replicas != 5 {
					return fmt.Errorf("generation %d, status %+v", d.Generation, d.Status)
				}
				return nil
			})
		}
		rolledOut("the restart rolled out")
		b.Act("roll back", row+" .act-rollback")
		poll.Until(t, 10*time.Second, "the rollback to the template before the restart", func() error {
			if v := restartedAt(); v != "" {
				return fmt.Errorf("the template still has restartedAt %s (the page's last action: %q)", v, b.LastAct())
			}
			return nil
		})

		rolledOut("the rollback rolled out")
		// Delete a pod: nothing happens until the dialog is confirmed.
		_, pods, err := runningPods(ctx, admin, "dash", "web")
		if err != nil || len(pods) == 0 {
			t.Fatalf("web pods: %v", err)
		}
		victim := ""
		for _, p := range pods {
			if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
				victim = p.Name
			}
		}
		if victim == "" {
			t.Fatal("no running web pod to delete")
		}
		b.Show("pods")
		prow := `#pods tr[data-key="dash/` + victim + `"]`
		b.WaitFor("the pod's row", `!!document.querySelector('`+prow+`')`, 10*time.Second)
		b.Cancel("delete, then cancel", prow+" .act-delete")
		time.Sleep(300 * time.Millisecond)
		if _, err := admin.Get(ctx, api.KindPod, "dash", victim); err != nil {
			t.Fatalf("the pod is gone after the delete was cancelled: %v", err)
		}
		b.ActConfirmed("delete, then confirm", prow+" .act-delete")
		b.WaitFor("the pod's row gone", `!document.querySelector('`+prow+`')`, 20*time.Second)

		// Cordon, then drain, the last node; then make it schedulable again.
		node := agents[2].Name
		unschedulable := func() bool {
			o, err := admin.Get(ctx, api.KindNode, "", node)
			if err != nil {
				t.Fatal(err)
			}
			return o.(*api.Node).Spec.Unschedulable
		}
		b.Show("nodes")
		nrow := `#nodes tr[data-key="/` + node + `"]`
		b.Act("cordon", nrow+" .act-cordon")
		poll.Until(t, 10*time.Second, "the node cordoned", func() error {
			if !unschedulable() {
				return fmt.Errorf("%s is schedulable", node)
			}
			return nil
		})
		b.WaitFor("the Uncordon button", `!!document.querySelector('`+nrow+` .act-uncordon')`, 10*time.Second)
		b.ActConfirmed("drain", nrow+" .act-drain")
		poll.Until(t, 30*time.Second, "no web pod left on "+node, func() error {
			_, pods, err := runningPods(ctx, admin, "dash", "web")
			if err != nil {
				return err
			}
			for _, p := range pods {
				if p.Spec.NodeName == node {
					return fmt.Errorf("%s still on %s", p.Name, node)
				}
			}
			return nil
		})
		b.Act("uncordon", nrow+" .act-uncordon")
		poll.Until(t, 10*time.Second, "the node uncordoned", func() error {
			if unschedulable() {
				return fmt.Errorf("%s is still unschedulable", node)
			}
			return nil
		})
		b.NoErrors("actions")
	})

	t.Run("a view token sees no action buttons", func(t *testing.T) {
		b.T = t
		// The server refuses anyway: a scale sent with the view token.
		b.ExpectViewOnly(base, viewTok, "dash", "web")
	})

	t.Run("a refused token shows the login again", func(t *testing.T) {
		b.T = t
		b.Run("a token the server does not know", uitest.Eval(`sessionStorage.setItem('shoal.token', 'shoal-nosuch.0123456789abcdef')`))
		b.Load("reload", chromedp.Reload())
		b.WaitFor("the login form", `!document.getElementById('login').hidden && document.getElementById('login-error').textContent.includes('401')`, 10*time.Second)
		if uitest.EvalAs[bool](b, `sessionStorage.getItem('shoal.token') !== null`) {
			t.Error("the refused token stayed in sessionStorage")
		}
		b.Screenshot("login")
		b.ForgetErrors() // the 401s are logged by the browser
	})

	t.Run("1000 pods", func(t *testing.T) {
		b.T = t
		if raceEnabled {
			// Under the race detector the three agents take minutes to
			// start 1,000 pods and the page then measures a saturated
			// machine; scripts/test runs this test again without -race.
			t.Skip("the 1,000-pod step runs without -race: go test -run 'TestDashboardInBrowser/1000_pods' ./api/ui/")
		}
		applied := time.Now()
		if _, err := admin.Apply(ctx, "", deployment("load", "many", 1000), true); err != nil {
			t.Fatalf("apply: %v", err)
		}
		// Three nodes hold at most 3 x 253 pods (a node's /24), so about
		// 240 of the 1,000 stay Pending: the page lists all of them.
		poll.Until(t, 5*time.Minute, "1000 pods, at least 700 of them Running", func() error {
			n, pods, err := runningPods(ctx, admin, "load", "many")
			if err != nil {
				return err
			}
			if len(pods) != 1000 || n < 700 {
				return fmt.Errorf("%d pods, %d Running", len(pods), n)
			}
			return nil
		})
		t.Logf("1000 pods, at least 700 Running, %s after the apply", time.Since(applied).Round(time.Second))
		b.Login(base, adminTok)
		b.Show("pods")
		// Let the agents finish the rollout's aftermath (status writes,
		// events) so that the load measures the page, not a busy cluster.
		time.Sleep(5 * time.Second)
		var totals, inPage []float64
		var rows int
		for range 3 {
			b.Load("reload with the token kept", chromedp.Reload())
			b.WaitFor("the first complete view", `document.body.dataset.complete === '1'`, 20*time.Second)
			complete := uitest.EvalAs[float64](b, `performance.getEntriesByName('shoal:complete')[0].startTime`)
			listed := uitest.EvalAs[float64](b, `performance.getEntriesByName('shoal:listed:pods')[0].startTime`)
			answered := uitest.EvalAs[float64](b, `performance.getEntriesByType('resource').find(r => r.name.endsWith('/api/v1/pods')).responseEnd`)
			rows = uitest.EvalAs[int](b, `document.querySelectorAll('#pods tbody tr').length`)
			totals, inPage = append(totals, complete), append(inPage, complete-answered)
			t.Logf("page load to the first complete view with %d pod rows: %.0f ms (pods list answered at %.0f ms, parsed at %.0f ms, rendered %.0f ms later)",
				rows, complete, answered, listed, complete-listed)
			t.Logf("navigation: %s", uitest.EvalAs[string](b, `JSON.stringify(performance.getEntriesByType('navigation').map(n => ({req: Math.round(n.requestStart), resp: Math.round(n.responseStart), end: Math.round(n.responseEnd), interactive: Math.round(n.domInteractive), dcl: Math.round(n.domContentLoadedEventStart)})).concat(performance.getEntriesByType('resource').filter(r => r.initiatorType !== 'fetch').map(r => r.name.split('/').pop() + ' ' + Math.round(r.startTime) + '+' + Math.round(r.duration))))`))
		}
		slices.Sort(totals)
		slices.Sort(inPage)
		t.Logf("1000 pods, median of 3 loads: %.0f ms from page load to the first complete view, %.0f ms of it in the page after the pods list arrived", totals[1], inPage[1])
		if inPage[1] > 1000 {
			t.Errorf("the page took %.0f ms to parse and render 1000 pods, want under 1 s", inPage[1])
		}
		all, _, err := admin.List(ctx, api.KindPod, "", api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rows != len(all) {
			t.Errorf("the pods table has %d rows, want every pod (%d)", rows, len(all))
		}
		b.Screenshot("pods-1000")

		// A pod's deletion touches only the rows of the pods that changed:
		// every row the page adds, removes or redraws must belong to a pod
		// whose resourceVersion moved in the API meanwhile (the deleted
		// one, its replacement, and under -race pods still starting).
		snapshot := func() map[string]string {
			objs, _, err := admin.List(ctx, api.KindPod, "", api.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			m := map[string]string{}
			for _, o := range objs {
				meta := o.GetObjectMeta()
				m[meta.Namespace+"/"+meta.Name] = meta.ResourceVersion
			}
			return m
		}
		before := snapshot()
		b.Run("observe the pods table", uitest.Eval(`window.shoalRows = new Set();
			new MutationObserver(ms => { for (const m of ms) {
				const el = m.target.nodeType === Node.ELEMENT_NODE ? m.target : m.target.parentElement;
				const tr = el && el.closest('#pods tbody tr');
				if (tr) { window.shoalRows.add(tr.dataset.key); continue; }
				for (const n of [...m.addedNodes, ...m.removedNodes]) if (n.dataset) window.shoalRows.add(n.dataset.key);
			} }).observe(document.querySelector('#pods tbody'), {childList: true, subtree: true, characterData: true, attributes: true}); true`))
		_, pods, _ := runningPods(ctx, admin, "load", "many")
		target := "load/" + pods[500].Name
		if _, err := admin.Delete(ctx, api.KindPod, "load", pods[500].Name, api.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		b.WaitFor("the deleted pod's row gone", `!document.querySelector('#pods tr[data-key="`+target+`"]')`, 30*time.Second)
		time.Sleep(300 * time.Millisecond) // let a stray redraw show
		touched := uitest.EvalAs[[]string](b, `[...window.shoalRows]`)
		after := snapshot()
		var strays []string
		for _, k := range touched {
			if before[k] == after[k] {
				strays = append(strays, k)
			}
		}
		t.Logf("deleting one pod touched %d of %d rows", len(touched), rows)
		if !slices.Contains(touched, target) || len(strays) > 0 {
			t.Errorf("deleting %s touched rows %v; these pods did not change: %v", target, touched, strays)
		}
		b.NoErrors("1000 pods")
	})

	t.Run("phone width", func(t *testing.T) {
		b.T = t
		b.Run("phone viewport", chromedp.EmulateViewport(390, 800), uitest.Eval(`location.hash = '#/workloads'`))
		b.WaitFor("stacked rows", `getComputedStyle(document.querySelector('#workloads thead')).display === 'none'`, 5*time.Second)
		if w := uitest.EvalAs[float64](b, `document.documentElement.scrollWidth`); w > 400 {
			wide := uitest.EvalAs[string](b, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391).slice(0, 8).map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right)).join(', ')`)
			t.Errorf("at phone width the page is %.0f px wide, want no sideways scrolling (390); too wide: %s", w, wide)
		}
		b.Screenshot("phone")
		b.NoErrors("phone width")
	})
}
