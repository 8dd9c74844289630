package engine_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func TestDockerLogsDemultiplexed(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{
		Image: image,
		Cmd:   []string{"sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2"},
	})
	waitExited(t, d, id)

	all := readLogs(t, d, id, engine.LogOptions{})
	lines := strings.Split(strings.TrimSuffix(all, "\n"), "\n")
	sorted := slices.Sorted(slices.Values(lines))
	if !slices.Equal(sorted, []string{"err1", "err2", "out1", "out2"}) {
		t.Fatalf("logs = %q, want the four lines without stream headers", all)
	}
	// Across the two streams the engine's order may vary; within one it may not.
	if slices.Index(lines, "out1") > slices.Index(lines, "out2") || slices.Index(lines, "err1") > slices.Index(lines, "err2") {
		t.Fatalf("lines out of order: %q", lines)
	}

	if tail := readLogs(t, d, id, engine.LogOptions{Tail: "1"}); strings.Count(tail, "\n") != 1 {
		t.Fatalf("tail 1 = %q, want one line", tail)
	}
	stamped := readLogs(t, d, id, engine.LogOptions{Timestamps: true, Tail: "1"})
	stamp, _, _ := strings.Cut(stamped, " ")
	if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil {
		t.Fatalf("timestamped line %q: %v", stamped, err)
	}
	if later := readLogs(t, d, id, engine.LogOptions{Since: time.Now().Add(time.Minute)}); later != "" {
		t.Fatalf("logs since the future = %q, want none", later)
	}
}

func TestDockerLogsTail(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{
		Image: image,
		Cmd:   []string{"sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done"},
	})
	waitExited(t, d, id)
	if got := readLogs(t, d, id, engine.LogOptions{Tail: "2"}); got != "line4\nline5\n" {
		t.Fatalf("tail 2 = %q", got)
	}
	if got := readLogs(t, d, id, engine.LogOptions{Tail: "all"}); got != "line1\nline2\nline3\nline4\nline5\n" {
		t.Fatalf("tail all = %q", got)
	}
}

func TestDockerLogsFollow(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	// The container waits for a file that the test creates once it has seen
	// the first line through the follow stream.
	id := runContainer(t, d, engine.ContainerSpec{
		Image: image,
		Cmd:   []string{"sh", "-c", "echo first; while ! test -e /tmp/go; do sleep 0.05; done; echo second"},
	})
	rc, err := d.Logs(testContext(t, time.Minute), id, engine.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	buf := make([]byte, 64)
	var got string
	for !strings.Contains(got, "first\n") {
		n, err := rc.Read(buf)
		if err != nil {
			t.Fatalf("reading first line: %v (got %q)", err, got)
		}
		got += string(buf[:n])
	}
	execOutput(t, d, id, "touch", "/tmp/go")
	rest, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("following: %v", err)
	}
	if got+string(rest) != "first\nsecond\n" {
		t.Fatalf("followed logs = %q", got+string(rest))
	}
	// The stream ended because the container did.
	if st := waitExited(t, d, id); st.ExitCode != 0 {
		t.Fatalf("exit code %d", st.ExitCode)
	}
}

func TestDockerLogsTTYPassThrough(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{Image: image, TTY: true, Cmd: []string{"echo", "hi"}})
	waitExited(t, d, id)
	if got := readLogs(t, d, id, engine.LogOptions{}); got != "hi\r\n" {
		t.Fatalf("TTY logs = %q, want %q", got, "hi\r\n")
	}
}

func TestDockerLogsCloseEndsFollow(t *testing.T) {
	d := enginetest.RequireDocker(t)
	image := enginetest.ImportBusybox(t, d)
	id := runContainer(t, d, engine.ContainerSpec{Image: image, Cmd: []string{"sleep", "300"}})
	rc, err := d.Logs(testContext(t, time.Minute), id, engine.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rc)
		done <- err
	}()
	rc.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("reading a closed follow stream did not end")
	}
}
