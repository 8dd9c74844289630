package uitest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/api/client"
)

// Chromium finds the browser: $SHOAL_CHROMIUM, or chromium on PATH. With
// neither, the test skips, unless SHOAL_TEST_DOCKER=1 says this is a full
// test run (scripts/test installs chromium), where a missing browser is a
// failure.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, c := range []string{os.Getenv("SHOAL_CHROMIUM"), "chromium", "chromium-browser"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("SHOAL_TEST_DOCKER") == "1" {
		t.Fatal("the dashboard's browser tests need chromium: apt-get install -y chromium (scripts/test installs it), or set SHOAL_CHROMIUM")
	}
	t.Skip("skipping the dashboard's browser tests: chromium is not installed (apt-get install -y chromium) and SHOAL_TEST_DOCKER is not set")
	return ""
}

// Browser is one headless chromium tab, and the errors its page logged.
// T is the test that reports its failures: set it to each subtest's.
type Browser struct {
	T testing.TB
	// Slow stretches every wait (the agents serving the page may run
	// under the race detector); 1 by default.
	Slow time.Duration

	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

// NewBrowser starts chromium at path on an empty tab; it stops with t.
func NewBrowser(t testing.TB, path string) *Browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("ignore-certificate-errors", true), chromedp.WindowSize(1280, 860))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &Browser{T: t, Slow: 1, ctx: ctx}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The browser reports the host's network changing (other
			// programs adding bridges and veths) and the connections it
			// closed for it; the page reconnects.
			if strings.Contains(m.Text, "ERR_NETWORK_CHANGED") || strings.Contains(m.Text, "ERR_SOCKET_NOT_CONNECTED") {
				continue
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.Type == chromedp.ConsoleException {
				b.logErr(m.String())
			}
		}
	}()
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

func (b *Browser) logErr(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = append(b.errs, s)
}

// NoErrors fails the test if the page logged an error since the last call.
func (b *Browser) NoErrors(when string) {
	b.T.Helper()
	b.mu.Lock()
	errs := b.errs
	b.errs = nil
	b.mu.Unlock()
	if len(errs) > 0 {
		b.T.Errorf("%s: the page logged errors:\n%s", when, strings.Join(errs, "\n"))
	}
}

// ForgetErrors drops what the page logged so far: the errors a step
// caused on purpose (a refused request, say).
func (b *Browser) ForgetErrors() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.errs = nil
}

// Run runs actions in the tab; a failure fails the test.
func (b *Browser) Run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, b.Slow*30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.T.Fatalf("%s: %v", what, err)
	}
}

// EvalAs evaluates expr in the page and returns its value.
func EvalAs[T any](b *Browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.T.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.T.Fatalf("evaluate %s: %v", expr, err)
	}
	return out
}

// Eval is an action that runs a script whose value does not matter.
func Eval(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](expr)
}

// WaitFor polls expr in the page until it is true, and says how long that
// took.
func (b *Browser) WaitFor(what, expr string, timeout time.Duration) time.Duration {
	b.T.Helper()
	timeout *= b.Slow
	start := time.Now()
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			b.T.Fatalf("%s: evaluate %s: %v", what, expr, err)
		}
		if ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			state, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`performance.getEntriesByType('mark').map(m => m.name + ' ' + Math.round(m.startTime)).join(', ') + ' | banner: ' + document.getElementById('banner').textContent`))
			b.T.Fatalf("%s: not within %s (%s); the page: %s", what, timeout, expr, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Screenshot saves the tab as NAME.png in $SHOAL_UI_SCREENSHOTS, when set.
func (b *Browser) Screenshot(name string) {
	b.T.Helper()
	dir := os.Getenv("SHOAL_UI_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.T.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.T.Fatal(err)
	}
}

// Login loads the page afresh and logs in with token.
func (b *Browser) Login(base, token string) {
	b.T.Helper()
	b.Load("open the page", chromedp.Navigate(base+"#/nodes"))
	b.Run("forget the token", Eval(`sessionStorage.clear()`))
	b.Load("reload without a token", chromedp.Reload())
	b.Run("log in",
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), token),
		chromedp.Click(chromedp.CSS("#login button[type=submit]")))
	b.WaitFor("the first complete view after logging in", `document.body.dataset.complete === '1' && document.body.dataset.perms === 'ready'`, 20*time.Second)
}

// Load navigates and checks that the dashboard, not the browser's error
// page, came: a navigation caught by the host's network changing
// (ERR_NETWORK_CHANGED, see NewBrowser) is tried again.
func (b *Browser) Load(what string, nav chromedp.Action[chromedp.Void]) {
	b.T.Helper()
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(b.ctx, b.Slow*30*time.Second)
		err := chromedp.Do(ctx, nav)
		cancel()
		if err == nil {
			ok, evalErr := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!!document.getElementById('nav')`))
			if evalErr == nil && ok {
				return
			}
			err = fmt.Errorf("the dashboard did not load (the browser's error page?): %v", evalErr)
		}
		if attempt == 3 {
			b.T.Fatalf("%s: %v", what, err)
		}
		b.T.Logf("%s: %v; loading again", what, err)
		time.Sleep(500 * time.Millisecond)
	}
}

// Act clicks the action button sel and waits until the page has started
// the action (the body's data-acts count moved; see act in app.js). A
// click the page did not take, as when the row under the pointer changed
// between the press and the release, is made again, at most twice more; a
// click the page took is never repeated, so an action runs once.
func (b *Browser) Act(what, sel string) {
	b.T.Helper()
	before := EvalAs[string](b, `document.body.dataset.acts || '0'`)
	b.clickUntil(what, sel, `(document.body.dataset.acts || '0') !== '`+before+`'`)
}

// ActConfirmed clicks sel, a button that asks for confirmation, until the
// dialog opens, then confirms, as Act.
func (b *Browser) ActConfirmed(what, sel string) {
	b.T.Helper()
	b.clickUntil(what, sel, `document.getElementById('confirm').open`)
	b.Act(what+": confirm", "#confirm-ok")
}

// Cancel clicks sel, a button that asks for confirmation, until the dialog
// opens, then cancels it.
func (b *Browser) Cancel(what, sel string) {
	b.T.Helper()
	b.clickUntil(what, sel, `document.getElementById('confirm').open`)
	b.clickUntil(what+": cancel", "#confirm-cancel", `!document.getElementById('confirm').open`)
}

// clickUntil clicks sel until the page expression taken is true within a
// second of a click, three clicks at most. Each click waits first for the
// page to be still (no change to the document for 150 ms, 3 s at most): a
// live update that moves the row between finding the button and pressing
// the mouse sends the click elsewhere. A mouse click the page did not take
// is logged with what was under the pointer; the last attempt clicks the
// element itself (the action's effect is what the tests check).
func (b *Browser) clickUntil(what, sel, taken string) {
	b.T.Helper()
	for attempt := 1; ; attempt++ {
		b.settle()
		if attempt < 3 {
			b.Run(what, chromedp.Click(chromedp.CSS(sel)))
		} else {
			b.Run(what, Eval(`document.querySelector(`+jsString(sel)+`).click()`))
		}
		for end := time.Now().Add(b.Slow * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if EvalAs[bool](b, taken) {
				return
			}
		}
		if attempt == 3 {
			b.T.Fatalf("%s: the page took none of 3 clicks on %s (%s stayed false)", what, sel, taken)
		}
		b.T.Logf("%s: the page did not take the click on %s (under its centre now: %s); clicking again", what, sel, b.under(sel))
	}
}

// settle waits until the document has not changed for 150 ms, 3 s at most.
func (b *Browser) settle() {
	b.T.Helper()
	EvalAs[bool](b, `new Promise((resolve) => {
  let quiet;
  const done = (ok) => { obs.disconnect(); clearTimeout(quiet); clearTimeout(cap); resolve(ok); };
  const obs = new MutationObserver(() => { clearTimeout(quiet); quiet = setTimeout(() => done(true), 150); });
  obs.observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true });
  quiet = setTimeout(() => done(true), 150);
  const cap = setTimeout(() => done(false), 3000);
})`, chromedp.EvalAwaitPromise)
}

// under names the element at the centre of sel's box, for a missed click.
func (b *Browser) under(sel string) string {
	b.T.Helper()
	return EvalAs[string](b, `(() => {
  const e = document.querySelector(`+jsString(sel)+`);
  if (!e) return 'no such element';
  const r = e.getBoundingClientRect();
  const at = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!at) return 'nothing (off screen?)';
  return at === e ? 'the element itself' : at.tagName.toLowerCase() + (at.id ? '#' + at.id : '') + (at.className ? '.' + String(at.className).split(' ').join('.') : '');
})()`)
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// LastAct is how the page's last action ended ("rollback: done",
// "scale: failed: ..."), for a test's failure message.
func (b *Browser) LastAct() string {
	b.T.Helper()
	return EvalAs[string](b, `document.body.dataset.act || 'no action yet'`)
}

// Show switches the page to a view (#/nodes, #/pods, #/pod/NS/NAME ...).
func (b *Browser) Show(view string) {
	b.T.Helper()
	b.Run("show "+view, Eval(`location.hash = '#/`+view+`'`))
}

// RowsRunning is a page expression: the pods table shows n Running pods
// whose names start with prefix.
func RowsRunning(ns, prefix string, n int) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#pods tbody tr')].filter(tr => tr.dataset.key.startsWith(%q) &&
		tr.querySelector('.pod-status').textContent === 'Running').length === %d`, ns+"/"+prefix, n)
}

// NewToken makes a bearer token bound to a ClusterRole, as `shoal token
// create NAME --role ROLE` does.
func NewToken(t testing.TB, c *client.Client, name, role string) string {
	t.Helper()
	ctx := context.Background()
	tok, hash, err := api.NewBearerToken(name)
	if err != nil {
		t.Fatal(err)
	}
	created, err := c.Create(ctx, api.KindToken, "", &api.Token{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.TokenSpec{Hash: hash}})
	if err != nil {
		t.Fatalf("create token %s: %v", name, err)
	}
	crb := &api.ClusterRoleBinding{ObjectMeta: api.ObjectMeta{Name: "token:" + name,
		OwnerReferences: []api.OwnerReference{{APIVersion: "shoal.io/v1", Kind: "Token", Name: name, UID: created.GetObjectMeta().UID}}},
		Subjects: []api.Subject{{Kind: api.SubjectUser, APIGroup: api.RBACGroup, Name: name}},
		RoleRef:  api.RoleRef{APIGroup: api.RBACGroup, Kind: "ClusterRole", Name: role}}
	if _, err := c.Create(ctx, api.KindClusterRoleBinding, "", crb); err != nil {
		t.Fatalf("bind token %s to %s: %v", name, role, err)
	}
	return tok
}

// ExpectViewOnly logs in with a view token and requires that the nodes,
// workloads and pods views show no action control, and that the server
// refuses a scale of Deployment ns/name sent with that token anyway.
func (b *Browser) ExpectViewOnly(base, viewToken, ns, name string) {
	b.Login(base, viewToken)
	for _, v := range []string{"nodes", "workloads", "pods"} {
		b.Show(v)
		b.WaitFor(v+" rows", `document.querySelectorAll('#`+v+` tbody tr').length > 0`, 10*time.Second)
		b.WaitFor("permissions answered", `document.body.dataset.perms === 'ready'`, 10*time.Second)
		if n := EvalAs[int](b, `document.querySelectorAll('button[class*="act-"], input.scale-input').length`); n != 0 {
			b.T.Errorf("%s: a view token sees %d action controls, want none", v, n)
		}
	}
	status := EvalAs[int](b, `fetch('/apis/apps/v1/namespaces/`+ns+`/deployments/`+name+`/scale', {method: 'PATCH',
		headers: {Authorization: 'Bearer ' + sessionStorage.getItem('shoal.token'), 'Content-Type': 'application/merge-patch+json'},
		body: '{"spec":{"replicas":1}}'}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	if status != 403 {
		b.T.Errorf("a scale with the view token: HTTP %d, want 403", status)
	}
	b.ForgetErrors() // the 403 above is logged by the browser on purpose
}
