package scaletest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

// ChildEnv, set to an agent's configuration (JSON), makes this test binary
// run that one agent instead of the tests (see RunChild).
const ChildEnv = "SHOAL_SCALE_CHILD"

// Mem is the memory of a process: the live heap after a collection and
// the resident set.
type Mem struct {
	HeapLive uint64 `json:"heapLive"`
	RSS      uint64 `json:"rss"`
}

// readMem collects the garbage, then reads the live heap (runtime/metrics
// /gc/heap/live:bytes) and the resident set (VmRSS of /proc/self/status).
func readMem() (Mem, error) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	m := Mem{HeapLive: s[0].Value.Uint64()}
	rss, err := processRSS()
	m.RSS = rss
	return m, err
}

// processRSS is this process's resident set in bytes.
func processRSS() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/self/status")
}

// childReply is a child's answer to "measure".
type childReply struct {
	Mem
	// Running counts the application containers running in its engine.
	Running int    `json:"running"`
	Error   string `json:"error,omitempty"`
}

// child is an agent in a process of its own: this test binary run again
// with ChildEnv set. It answers each "measure" line on its stdin with a
// childReply line on its stdout, and stops when its stdin closes.
type child struct {
	cmd     *exec.Cmd
	mu      sync.Mutex // one request at a time
	stdin   io.WriteCloser
	replies chan childReply
	exited  chan struct{}
	err     error // set before exited closes
}

func startChild(cfg agentConfig) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	conf, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), ChildEnv+"="+string(conf))
	logf, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child holds its own copy
	cmd.Stderr = logf
	c := &child{cmd: cmd, replies: make(chan childReply, 4), exited: make(chan struct{})}
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var r childReply
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				r.Error = fmt.Sprintf("unreadable answer %q", sc.Text())
			}
			c.replies <- r
		}
		c.err = cmd.Wait()
		if c.err == nil {
			c.err = errors.New("exited")
		}
		close(c.exited)
	}()
	return c, nil
}

// measure asks the child for its memory and running containers.
func (c *child) measure() (childReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.stdin, "measure\n"); err != nil {
		return childReply{}, fmt.Errorf("child agent: %w", err)
	}
	select {
	case r := <-c.replies:
		if r.Error != "" {
			return r, fmt.Errorf("child agent: %s", r.Error)
		}
		return r, nil
	case <-c.exited:
		return childReply{}, fmt.Errorf("child agent: %w", c.err)
	case <-time.After(time.Minute):
		return childReply{}, errors.New("child agent: no answer within a minute")
	}
}

func (c *child) failed() error {
	select {
	case <-c.exited:
		return c.err
	default:
		return nil
	}
}

// stop closes the child's stdin (it leaves the cluster and exits), and
// kills it if it does not exit within 30 s.
func (c *child) stop() {
	c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}

// kill kills the child at once (SIGKILL): no leave, no flush.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// RunChild runs the agent ChildEnv describes and exits, if it is set; it
// returns at once otherwise. TestMain calls it first.
func RunChild() {
	conf, ok := os.LookupEnv(ChildEnv)
	if !ok {
		return
	}
	os.Exit(runChild(conf))
}

func runChild(conf string) int {
	var cfg agentConfig
	if err := json.Unmarshal([]byte(conf), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", ChildEnv, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	eng := NewEngine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, cfg, eng, log) }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	enc := json.NewEncoder(os.Stdout)
	for {
		select {
		case err := <-done:
			cancel()
			_ = enc.Encode(childReply{Error: fmt.Sprintf("agent stopped: %v", err)})
			return 1
		case line, ok := <-lines:
			if !ok { // the parent is gone or done
				cancel()
				if err := <-done; err != nil {
					fmt.Fprintf(os.Stderr, "agent %s: %v\n", cfg.Name, err)
					return 1
				}
				return 0
			}
			if line != "measure" {
				_ = enc.Encode(childReply{Error: fmt.Sprintf("unknown request %q", line)})
				continue
			}
			var r childReply
			var err error
			if r.Mem, err = readMem(); err != nil {
				r.Error = err.Error()
			}
			r.Running = runningApps(ctx, eng)
			_ = enc.Encode(r)
		}
	}
}

// runningApps counts the application containers running in the engine.
func runningApps(ctx context.Context, eng *enginetest.Fake) int {
	list, err := eng.ListContainers(ctx, nil)
	if err != nil {
		return -1
	}
	n := 0
	for _, c := range list {
		if c.State == "running" && c.Labels[engine.LabelContainer] != engine.SandboxContainerName {
			n++
		}
	}
	return n
}
