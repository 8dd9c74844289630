package integration

// The write contract (docs/consistency.md): a 2xx means the write is on the
// agent's disk; a full disk refuses writes with 507 and loses nothing; a
// damaged state.db is moved aside and rebuilt from the peers.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// durabilityRounds is how many kill -9s TestAcknowledgedWritesSurviveKill9
// makes: 10, or SHOAL_TEST_DURABILITY_ROUNDS (100 for the full run).
func durabilityRounds(t *testing.T) int {
	s := os.Getenv("SHOAL_TEST_DURABILITY_ROUNDS")
	if s == "" {
		return 10
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("SHOAL_TEST_DURABILITY_ROUNDS=%q: want a positive number", s)
	}
	return n
}

// Writers create ConfigMaps as fast as they can; the agent is killed
// (SIGKILL) the moment the first 2xx of a round arrives. After every
// restart, every ConfigMap whose create was answered 2xx, in any round, is
// there with its data.
func TestAcknowledgedWritesSurviveKill9(t *testing.T) {
	a := startAgent(t)
	rounds := durabilityRounds(t)
	acked := map[string]string{} // name -> data
	var mu sync.Mutex
	for round := range rounds {
		proc := a.cmd.Process
		var once sync.Once
		killed := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-killed:
						return
					default:
					}
					name := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					data := strings.Repeat(name, 50)
					cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err := a.client.Create(cctx, api.KindConfigMap, "default", &api.ConfigMap{
						ObjectMeta: api.ObjectMeta{Name: name}, Data: map[string]string{"d": data}})
					cancel()
					if err != nil {
						return // killed: the answer never came, so it is not acknowledged
					}
					mu.Lock()
					acked[name] = data
					mu.Unlock()
					once.Do(func() {
						_ = proc.Kill()
						close(killed)
					})
				}
			})
		}
		wg.Wait()
		a.stop(syscall.SIGKILL) // reaps it
		a.start()
		objs, _, err := a.client.List(ctx(t), api.KindConfigMap, "default", api.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]string{}
		for _, o := range objs {
			cm := o.(*api.ConfigMap)
			have[cm.Name] = cm.Data["d"]
		}
		mu.Lock()
		for name, data := range acked {
			if got, ok := have[name]; !ok {
				t.Fatalf("round %d: ConfigMap %s was acknowledged (2xx) before the kill -9, and is gone after the restart", round, name)
			} else if got != data {
				t.Fatalf("round %d: ConfigMap %s has other data after the restart", round, name)
			}
		}
		n := len(acked)
		mu.Unlock()
		if round == 0 || (round+1)%10 == 0 {
			t.Logf("round %d: %d acknowledged ConfigMaps, all there after %d kill -9s", round+1, n, round+1)
		}
	}
}

// The data dir on a small tmpfs, filled up: writes answer 507 saying what
// is full and what to do; reads go on; a running pod keeps running; once
// space is freed, writes succeed again without a restart; nothing
// acknowledged is lost, across a restart too.
func TestDiskFullRefusesWritesAndResumes(t *testing.T) {
	var filler string
	a := startAgentWith(t, func(a *agent) {
		dir := a.dataDir
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=48m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
			t.Fatalf("mount a tmpfs on the data dir (the test needs root): %v: %s", err, out)
		}
		t.Cleanup(func() {
			if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v: %s", dir, err, out)
			}
			os.RemoveAll(dir)
		})
		logDir := t.TempDir()
		a.logPath = filepath.Join(logDir, "agent.log")
		filler = filepath.Join(dir, "filler")
	})
	a.shoalIn([]byte(deploymentYAML("keep", 1, testImage)), "apply", "-f", "-")
	waitReady(t, a, "app=keep", 1, 90*time.Second)
	pod := a.pods(t, "default", "app=keep")[0]
	apps := runningApps(t, a.name)
	if len(apps) != 1 {
		t.Fatalf("%d app containers, want 1", len(apps))
	}
	pid := a.cmd.Process.Pid

	create := func(name string, size int) (int, string) {
		body := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q},"data":{"d":%q}}`, name, strings.Repeat("x", size))
		resp, err := a.httpClient(t, "").Post(a.url()+"/api/v1/namespaces/default/configmaps", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	var acked []string
	for i := range 5 {
		name := fmt.Sprintf("before-%d", i)
		if code, msg := create(name, 64<<10); code != http.StatusCreated {
			t.Fatalf("create %s before the disk is full: %d %s", name, code, msg)
		}
		acked = append(acked, name)
	}

	// Fill the file system.
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	f.Close()

	var refusal string
	for i := 0; refusal == "" && i < 100; i++ {
		name := fmt.Sprintf("full-%d", i)
		switch code, msg := create(name, 256<<10); code {
		case http.StatusCreated:
			acked = append(acked, name) // freed pages in the file still held it
		case http.StatusInsufficientStorage:
			refusal = msg
		default:
			t.Fatalf("create %s on a full disk: %d %s (want 201 or 507)", name, code, msg)
		}
	}
	if refusal == "" {
		t.Fatal("100 writes of 256 KiB on a full disk: none was refused with 507")
	}
	t.Logf("the refusal: %s", refusal)
	for _, want := range []string{"full", "nothing was written", "Free space", "resume"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("the 507 does not say %q: %s", want, refusal)
		}
	}
	// Reads go on, the pod keeps running, the agent still answers.
	for _, name := range acked {
		if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", name); err != nil {
			t.Fatalf("read %s while the disk is full: %v", name, err)
		}
	}
	time.Sleep(3 * time.Second) // a few of the runner's resyncs on a full disk
	if got := runningApps(t, a.name); len(got) != 1 || got[0].ID != apps[0].ID {
		t.Fatalf("the pod's container changed while the disk was full: %v, before %v", got, apps)
	}
	if p, err := a.client.Get(ctx(t), api.KindPod, "default", pod.Name); err != nil || p.(*api.Pod).Status.Phase != api.PodRunning {
		t.Fatalf("the pod while the disk is full: %v", err)
	}
	if resp, err := httpGetCA(a.url()+"/readyz", a.caFile()); err != nil || resp != "ok" {
		t.Fatalf("readyz while the disk is full: %q %v", resp, err)
	}
	logText, _ := os.ReadFile(a.logFilePath())
	if !strings.Contains(string(logText), "the disk holding the store is full") {
		t.Error("the agent's log does not say the disk is full")
	}

	// Space comes back: writes resume by themselves, the same process.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "a write succeeds once space is freed", func() error {
		if code, msg := create("after", 64<<10); code != http.StatusCreated {
			return fmt.Errorf("%d %s", code, msg)
		}
		return nil
	})
	acked = append(acked, "after")
	if a.cmd.Process.Pid != pid || syscall.Kill(pid, 0) != nil {
		t.Fatal("the agent was restarted")
	}
	if got := runningApps(t, a.name); len(got) != 1 || got[0].ID != apps[0].ID {
		t.Fatalf("the pod's container changed: %v, before %v", got, apps)
	}

	a.stop(syscall.SIGKILL)
	a.start()
	for _, name := range acked {
		if _, err := a.client.Get(ctx(t), api.KindConfigMap, "default", name); err != nil {
			t.Errorf("%s was acknowledged and is gone after a restart: %v", name, err)
		}
	}
}

// An agent alone (no --join, no peer remembered) whose state.db is
// truncated refuses to start, saying what is wrong and what to do, leaves
// the file in place, and does not crash.
func TestDamagedStoreAloneRefusesToStart(t *testing.T) {
	a := startAgent(t)
	a.stop(syscall.SIGTERM)
	db := filepath.Join(a.dataDir, "state.db")
	info, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	// Three pages (the two meta pages and one more) are fewer than any
	// store in use counts; half the file was not always (bbolt grows its
	// file ahead of use, so a small store fitted in the first half).
	if err := os.Truncate(db, min(info.Size()/2, 3*int64(os.Getpagesize()))); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, shoalBin(t), "agent", "--name", a.name, "--data-dir", a.dataDir,
		"--api-addr", fmt.Sprintf("127.0.0.1:%d", a.port), "--bind", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || cctx.Err() != nil {
		t.Fatalf("want the agent to exit with an error, got %v:\n%s", err, out)
	}
	if ee.ExitCode() != 1 || strings.Contains(string(out), "panic") || strings.Contains(string(out), "SIGSEGV") {
		t.Fatalf("the agent crashed (exit %d):\n%s", ee.ExitCode(), out)
	}
	t.Logf("the refusal:\n%s", out)
	for _, want := range []string{db, "damaged", "truncated", "no peer to rebuild", "--join", "backup"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(db); err != nil {
		t.Fatalf("the damaged file was not left in place: %v", err)
	}
}
