package enginetest

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/internal/poll"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent waits for the next event on the stream.
func nextEvent(t *testing.T, events <-chan engine.Event) engine.Event {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("event stream closed")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return engine.Event{}
}

func TestFakeContainerLifecycle(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("busybox")
	events, _ := f.Events(ctx)

	id, err := f.CreateContainer(ctx, engine.ContainerSpec{
		Name: "web", Image: "busybox:latest", NetworkMode: "shoal0",
		Labels: map[string]string{engine.LabelPodName: "p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Action != "create" || ev.ContainerID != id || ev.Labels[engine.LabelPodName] != "p" || ev.Labels["name"] != "web" {
		t.Fatalf("create event = %+v", ev)
	}
	st, err := f.InspectContainer(ctx, "web")
	if err != nil || st.Status != "created" || st.Running {
		t.Fatalf("created state = %+v, %v", st, err)
	}

	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Action != "start" {
		t.Fatalf("start event = %+v", ev)
	}
	st, _ = f.InspectContainer(ctx, id)
	if !st.Running || st.Status != "running" || !strings.HasPrefix(st.IPAddress, "172.31.0.") || st.StartedAt.IsZero() {
		t.Fatalf("running state = %+v", st)
	}

	if err := f.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kill", "die", "stop"} {
		if ev := nextEvent(t, events); ev.Action != want {
			t.Fatalf("event %q, want %q", ev.Action, want)
		}
	}
	st, _ = f.InspectContainer(ctx, id)
	if st.Running || st.ExitCode != StopExitCode || st.FinishedAt.IsZero() {
		t.Fatalf("stopped state = %+v", st)
	}

	if err := f.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Action != "destroy" {
		t.Fatalf("event %q, want destroy", ev.Action)
	}
	if _, err := f.InspectContainer(ctx, id); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("inspect removed: %v", err)
	}
	if err := f.RemoveContainer(ctx, id); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("remove removed: %v", err)
	}
	if got := f.CallCount("StartContainer"); got != 1 {
		t.Fatalf("StartContainer calls = %d", got)
	}
	want := []string{"Events", "CreateContainer web busybox:latest", "InspectContainer web", "StartContainer " + id}
	for i, c := range f.Calls()[:4] {
		if c.String() != want[i] {
			t.Fatalf("call %d = %q, want %q", i, c, want[i])
		}
	}
}

func TestFakeCreateErrors(t *testing.T) {
	f := New()
	ctx := testContext(t)
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "a", Image: "absent"}); !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatalf("absent image: %v", err)
	}
	f.AddImage("img:1")
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "a", Image: "img:1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "a", Image: "img:1"}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("name reuse: %v", err)
	}
	boom := errors.New("boom")
	f.SetContainerScript("b", Script{CreateErr: boom})
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "b", Image: "img:1"}); !errors.Is(err, boom) {
		t.Fatalf("scripted create error: %v", err)
	}
}

func TestFakeScriptedExit(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("job")
	f.SetImageScript("job", Script{ExitCode: 3, RunFor: 20 * time.Millisecond, Output: "working\n"})
	events, _ := f.Events(ctx)

	id, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "j", Image: "job"})
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var die engine.Event
	for die.Action != "die" {
		die = nextEvent(t, events)
	}
	if die.ExitCode != "3" || die.ContainerID != id {
		t.Fatalf("die event = %+v", die)
	}
	st, _ := f.InspectContainer(ctx, id)
	if st.Running || st.ExitCode != 3 {
		t.Fatalf("state after run = %+v", st)
	}

	// A second start runs the script again; its output is appended.
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	poll.Cond(t, 5*time.Second, "second exit", func() bool { s, _ := f.State(id); return !s.Running })
	rc, err := f.Logs(ctx, id, engine.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if data, _ := io.ReadAll(rc); string(data) != "working\nworking\n" {
		t.Fatalf("logs = %q", data)
	}
}

func TestFakeImageScriptSequence(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("flaky")
	failStart := errors.New("no such file")
	f.SetImageScript("flaky", Script{StartErr: failStart}, Script{})

	first, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "1", Image: "flaky"})
	if err := f.StartContainer(ctx, first); !errors.Is(err, failStart) {
		t.Fatalf("first start: %v", err)
	}
	if st, _ := f.State(first); st.Running || st.ExitCode != 128 || st.Error == "" {
		t.Fatalf("failed start state = %+v", st)
	}
	for _, name := range []string{"2", "3"} {
		id, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: name, Image: "flaky"})
		if err := f.StartContainer(ctx, id); err != nil {
			t.Fatalf("container %s: %v", name, err)
		}
		if st, _ := f.State(id); !st.Running {
			t.Fatalf("container %s not running (runs forever without RunFor)", name)
		}
	}
}

func TestFakeKillAndOOM(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("app")
	events, _ := f.Events(ctx)
	a, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "a", Image: "app"})
	b, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "b", Image: "app"})
	_ = f.StartContainer(ctx, a)
	_ = f.StartContainer(ctx, b)
	for range 4 {
		nextEvent(t, events)
	}

	if err := f.Kill("a", 2); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Action != "die" || ev.ExitCode != "2" || ev.ContainerID != a {
		t.Fatalf("kill event = %+v", ev)
	}
	if err := f.Kill("a", 2); err == nil {
		t.Fatal("killing a dead container succeeded")
	}
	if err := f.OOMKill(b); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, events); ev.Action != "oom" {
		t.Fatalf("event %q, want oom", ev.Action)
	}
	if ev := nextEvent(t, events); ev.Action != "die" || ev.ExitCode != "137" {
		t.Fatalf("event = %+v, want die 137", ev)
	}
	if st, _ := f.State(b); !st.OOMKilled || st.ExitCode != KillExitCode {
		t.Fatalf("oom state = %+v", st)
	}
	if err := f.Kill("nope", 1); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("kill missing: %v", err)
	}
}

func TestFakeStopCancelsScriptedExit(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("app")
	f.SetImageScript("app", Script{ExitCode: 9, RunFor: 30 * time.Millisecond})
	id, _ := f.CreateContainer(ctx, engine.ContainerSpec{Image: "app"})
	_ = f.StartContainer(ctx, id)
	_ = f.StopContainer(ctx, id, 0)
	// Restart without a script: the first run's timer, should it fire
	// late, must not end the second run.
	f.SetContainerScript(id, Script{})
	_ = f.StartContainer(ctx, id)
	f.endRun(id, 1, 9)
	if st, _ := f.State(id); !st.Running {
		t.Fatalf("stale exit timer stopped the new run: %+v", st)
	}
	f.endRun(id, 2, 4)
	if st, _ := f.State(id); st.Running || st.ExitCode != 4 {
		t.Fatalf("the current run's timer did not end it: %+v", st)
	}
}

func TestFakeNetworkJoinAndIPs(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("pause", "app")
	sb, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "sb", Image: "pause", NetworkMode: "shoal0"})
	app, _ := f.CreateContainer(ctx, engine.ContainerSpec{Name: "app", Image: "app", NetworkMode: "container:" + sb})
	if err := f.StartContainer(ctx, app); err == nil {
		t.Fatal("joined a sandbox that is not running")
	}
	_ = f.StartContainer(ctx, sb)
	if err := f.StartContainer(ctx, app); err != nil {
		t.Fatal(err)
	}
	sbState, _ := f.State(sb)
	appState, _ := f.State(app)
	if sbState.IPAddress == "" || appState.IPAddress != "" {
		t.Fatalf("sandbox IP %q, app IP %q: only the network owner gets one", sbState.IPAddress, appState.IPAddress)
	}
	other, _ := f.CreateContainer(ctx, engine.ContainerSpec{Image: "pause"})
	_ = f.StartContainer(ctx, other)
	if st, _ := f.State(other); st.IPAddress == sbState.IPAddress || st.IPAddress == "" {
		t.Fatalf("second IP %q, first %q", st.IPAddress, sbState.IPAddress)
	}
}

func TestFakeListByLabel(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	mk := func(name string, labels map[string]string) string {
		id, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: name, Image: "img", Labels: labels})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mk("a", map[string]string{"pod": "1", "role": "sandbox"})
	b := mk("b", map[string]string{"pod": "1", "role": "app"})
	mk("c", map[string]string{"pod": "2"})

	names := func(labels map[string]string) string {
		list, err := f.ListContainers(ctx, labels)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.Names...)
		}
		return strings.Join(out, ",")
	}
	if got := names(map[string]string{"pod": "1"}); got != "b,a" {
		t.Fatalf("pod=1: %s (want newest first)", got)
	}
	if got := names(map[string]string{"role": ""}); got != "b,a" {
		t.Fatalf("role present: %s", got)
	}
	if got := names(nil); got != "c,b,a" {
		t.Fatalf("all: %s", got)
	}
	list, _ := f.ListContainers(ctx, map[string]string{"role": "app"})
	if len(list) != 1 || list[0].ID != b || list[0].State != "created" {
		t.Fatalf("role=app: %+v", list)
	}
}

func TestFakeEventsFanOutAndEnd(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	ctx1, cancel1 := context.WithCancel(ctx)
	ev1, errc1 := f.Events(ctx1)
	ev2, errc2 := f.Events(ctx)
	if f.Subscribers() != 2 {
		t.Fatalf("subscribers = %d", f.Subscribers())
	}
	// Many events, nobody reading yet: emitting must not block.
	for range 500 {
		f.Emit(engine.Event{Action: "ping"})
	}
	for range 500 {
		if nextEvent(t, ev1).Action != "ping" || nextEvent(t, ev2).Action != "ping" {
			t.Fatal("lost or reordered event")
		}
	}

	cancel1()
	if err := <-errc1; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled stream error = %v", err)
	}
	if _, open := <-ev1; open {
		t.Fatal("cancelled stream still open")
	}
	poll.Cond(t, 5*time.Second, "unsubscribe", func() bool { return f.Subscribers() == 1 })

	f.BreakEvents(io.ErrUnexpectedEOF)
	if err := <-errc2; !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("broken stream error = %v", err)
	}
	if _, open := <-ev2; open {
		t.Fatal("broken stream still open")
	}
}

func TestFakeUnavailable(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	events, errc := f.Events(ctx)
	f.SetUnavailable(true)
	if err := <-errc; !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("stream error = %v", err)
	}
	if _, open := <-events; open {
		t.Fatal("stream open while the engine is down")
	}
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Image: "img"}); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("create while down: %v", err)
	}
	if _, err := f.Info(ctx); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("info while down: %v", err)
	}
	f.SetUnavailable(false)
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Image: "img"}); err != nil {
		t.Fatalf("create after recovery: %v", err)
	}
}

func TestFakeHungCallsWaitForTheirContextOrTheEngine(t *testing.T) {
	f := New()
	f.AddImage("img")
	f.SetHung(true)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := f.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping of a hung engine: %v", err)
	}
	if _, err := f.ListContainers(ctx, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("list of a hung engine: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := f.CreateContainer(testContext(t), engine.ContainerSpec{Image: "img"})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("create returned while hung: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.SetHung(false)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("create once the engine answers: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a held call did not go on once the engine answered")
	}
	if err := f.Ping(testContext(t)); err != nil {
		t.Fatal(err)
	}
	f.SetUnavailable(true)
	if err := f.Ping(testContext(t)); !errors.Is(err, engine.ErrUnavailable) {
		t.Fatalf("ping while down: %v", err)
	}
}

func TestFakeSetFailing(t *testing.T) {
	f := New()
	ctx := testContext(t)
	injected := errors.New("injected")
	f.SetFailing("ListContainers", injected)
	if _, err := f.ListContainers(ctx, nil); !errors.Is(err, injected) {
		t.Fatalf("list: %v", err)
	}
	if err := f.Ping(ctx); err != nil {
		t.Fatalf("another method failed too: %v", err)
	}
	f.SetFailing("ListContainers", nil)
	if _, err := f.ListContainers(ctx, nil); err != nil {
		t.Fatalf("list after SetFailing(nil): %v", err)
	}
	if n := f.CallCount("ListContainers"); n != 2 {
		t.Fatalf("%d calls recorded, want 2", n)
	}
}

func TestFakeOverrides(t *testing.T) {
	f := New()
	ctx := testContext(t)
	injected := errors.New("injected")
	f.StartContainerFn = func(context.Context, string) error { return injected }
	if err := f.StartContainer(ctx, "anything"); !errors.Is(err, injected) {
		t.Fatalf("override ignored: %v", err)
	}
	if f.CallCount("StartContainer") != 1 {
		t.Fatal("overridden call not recorded")
	}
}

func TestFakeImages(t *testing.T) {
	f := New()
	ctx := testContext(t)
	if err := f.PullImage(ctx, "nginx"); !errors.Is(err, engine.ErrImageNotFound) {
		t.Fatalf("pull of unknown image: %v", err)
	}
	f.AddRegistryImage("nginx:1.25")
	if err := f.PullImage(ctx, "nginx:1.25"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.ImageExists(ctx, "nginx:1.25"); !ok {
		t.Fatal("pulled image absent")
	}
	if ok, _ := f.ImageExists(ctx, "nginx"); ok {
		t.Fatal("nginx:latest present without a pull")
	}
	if err := f.ImportImage(ctx, strings.NewReader("tar bytes"), "local/x", []string{"CMD [\"x\"]"}); err != nil {
		t.Fatal(err)
	}
	img, ok := f.Imported("local/x:latest")
	if !ok || string(img.RootfsTar) != "tar bytes" || img.Changes[0] != `CMD ["x"]` {
		t.Fatalf("imported = %+v, %v", img, ok)
	}
	if got := strings.Join(f.Images(), ","); got != "local/x:latest,nginx:1.25" {
		t.Fatalf("images = %s", got)
	}
	for ref, want := range map[string]string{
		"busybox": "busybox:latest", "reg:5000/a/b": "reg:5000/a/b:latest",
		"reg:5000/a/b:1": "reg:5000/a/b:1", "a@sha256:00": "a@sha256:00",
	} {
		if got := normalizeRef(ref); got != want {
			t.Errorf("normalizeRef(%q) = %q, want %q", ref, got, want)
		}
	}
}

func TestFakeNetworksAndVolumes(t *testing.T) {
	f := New()
	ctx := testContext(t)
	spec := engine.NetworkSpec{Name: "shoal", Subnet: "10.244.1.0/24", Gateway: "10.244.1.1", BridgeName: "shoal0",
		Options: map[string]string{"com.docker.network.bridge.enable_ip_masquerade": "true"}}
	id, err := f.EnsureNetwork(ctx, spec)
	if err != nil || id == "" {
		t.Fatalf("EnsureNetwork = %q, %v", id, err)
	}
	if again, _ := f.EnsureNetwork(ctx, spec); again != id {
		t.Fatal("second EnsureNetwork gave another id")
	}
	if anyNet, _ := f.EnsureNetwork(ctx, engine.NetworkSpec{Name: "shoal"}); anyNet != id {
		t.Fatal("EnsureNetwork without details gave another id")
	}
	if got, ok := f.NetworkSpec("shoal"); !ok || got.BridgeName != "shoal0" || got.Gateway != "10.244.1.1" ||
		got.Options["com.docker.network.bridge.enable_ip_masquerade"] != "true" {
		t.Fatalf("network spec = %+v", got)
	}

	// Unused, it is re-created with the other subnet.
	moved := spec
	moved.Subnet, moved.Gateway = "10.244.2.0/24", "10.244.2.1"
	movedID, err := f.EnsureNetwork(ctx, moved)
	if err != nil || movedID == id {
		t.Fatalf("EnsureNetwork with another subnet = %q, %v; want a new network", movedID, err)
	}
	if _, subnet, ok := f.Network("shoal"); !ok || subnet != "10.244.2.0/24" {
		t.Fatalf("network subnet = %q", subnet)
	}
	// In use, even by a stopped container, it is not.
	f.AddImage("pause")
	if _, err := f.CreateContainer(ctx, engine.ContainerSpec{Name: "sb", Image: "pause", NetworkMode: "shoal"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.EnsureNetwork(ctx, spec); !errors.Is(err, engine.ErrInUse) || !strings.Contains(err.Error(), "sb") {
		t.Fatalf("network in use: %v, want ErrInUse naming the container", err)
	}
	_ = f.EnsureVolume(ctx, "data", map[string]string{"a": "1"})
	_ = f.EnsureVolume(ctx, "data", map[string]string{"a": "2"})
	if labels, ok := f.Volume("data"); !ok || labels["a"] != "1" {
		t.Fatalf("volume labels = %v (an existing volume is left as it is)", labels)
	}
}

func TestFakeLogsTailAndFollow(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	id, _ := f.CreateContainer(ctx, engine.ContainerSpec{Image: "img"})
	_ = f.StartContainer(ctx, id)
	_ = f.SetLogs(id, "1\n2\n3\n")

	read := func(opts engine.LogOptions) string {
		rc, err := f.Logs(ctx, id, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		data, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for tail, want := range map[string]string{"": "1\n2\n3\n", "all": "1\n2\n3\n", "2": "2\n3\n", "0": "", "9": "1\n2\n3\n"} {
		if got := read(engine.LogOptions{Tail: tail}); got != want {
			t.Errorf("tail %q = %q, want %q", tail, got, want)
		}
	}
	if _, err := f.Logs(ctx, id, engine.LogOptions{Tail: "x"}); err == nil {
		t.Error("bad tail accepted")
	}

	rc, err := f.Logs(ctx, id, engine.LogOptions{Follow: true, Tail: "1"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var (
		mu  sync.Mutex
		got []byte
	)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := rc.Read(buf)
			mu.Lock()
			got = append(got, buf[:n]...)
			mu.Unlock()
			if err != nil {
				done <- err
				return
			}
		}
	}()
	text := func() string { mu.Lock(); defer mu.Unlock(); return string(got) }
	poll.Cond(t, 5*time.Second, "tail line", func() bool { return text() == "3\n" })
	_ = f.AppendLogs(id, "4\n")
	poll.Cond(t, 5*time.Second, "appended line", func() bool { return text() == "3\n4\n" })
	_ = f.Kill(id, 0)
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Fatalf("follow ended with %v, want EOF at exit", err)
	}
}

func TestFakeExec(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	id, _ := f.CreateContainer(ctx, engine.ContainerSpec{Image: "img"})
	if _, err := f.Exec(ctx, id, engine.ExecConfig{Cmd: []string{"true"}}); !errors.Is(err, engine.ErrConflict) {
		t.Fatalf("exec in a created container: %v", err)
	}
	_ = f.StartContainer(ctx, id)
	sess, err := f.Exec(ctx, id, engine.ExecConfig{Cmd: []string{"true"}})
	if err != nil {
		t.Fatal(err)
	}
	if code, err := sess.Stream(ctx, nil, nil, nil); code != 0 || err != nil {
		t.Fatalf("default exec = %d, %v", code, err)
	}

	scripted := &ExecSession{Stdout: "out:", Stderr: "err", ExitCode: 5, EchoStdin: true}
	f.ExecFn = func(context.Context, string, engine.ExecConfig) (engine.ExecSession, error) { return scripted, nil }
	sess, _ = f.Exec(ctx, id, engine.ExecConfig{Cmd: []string{"cat"}, Stdin: true})
	var stdout, stderr strings.Builder
	code, err := sess.Stream(ctx, strings.NewReader("in"), &stdout, &stderr)
	if code != 5 || err != nil || stdout.String() != "out:in" || stderr.String() != "err" || scripted.Stdin() != "in" {
		t.Fatalf("scripted exec = %d, %v, %q, %q", code, err, stdout.String(), stderr.String())
	}
	_ = sess.Resize(ctx, 80, 24)
	if r := scripted.Resizes(); len(r) != 1 || r[0] != [2]uint{80, 24} {
		t.Fatalf("resizes = %v", r)
	}

	slow := &ExecSession{RunFor: time.Minute}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := slow.Stream(short, nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow exec = %v, want the context's deadline", err)
	}
}

func TestFakeConcurrentUse(t *testing.T) {
	f := New()
	ctx := testContext(t)
	f.AddImage("img")
	f.SetImageScript("img", Script{RunFor: time.Millisecond})
	events, _ := f.Events(ctx)
	go func() {
		for range events {
		}
	}()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				id, err := f.CreateContainer(ctx, engine.ContainerSpec{Image: "img", NetworkMode: "n"})
				if err != nil {
					t.Error(err)
					return
				}
				_ = f.StartContainer(ctx, id)
				_, _ = f.InspectContainer(ctx, id)
				_, _ = f.ListContainers(ctx, nil)
				_ = f.RemoveContainer(ctx, id)
			}
		})
	}
	wg.Wait()
	if list, _ := f.ListContainers(ctx, nil); len(list) != 0 {
		t.Fatalf("%d containers left", len(list))
	}
}
