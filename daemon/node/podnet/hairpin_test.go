package podnet

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/daemon/node/engine"
	"github.com/shoal-dev/shoal/daemon/node/engine/enginetest"
)

func TestHairpinFollowsSandboxStarts(t *testing.T) {
	var calls atomic.Int32
	h := NewHairpin("", slog.New(slog.DiscardHandler))
	h.resync = time.Hour
	h.set = func(bridge string) (int, error) {
		if bridge != BridgeDevice {
			t.Errorf("bridge %q", bridge)
		}
		calls.Add(1)
		return 1, nil
	}
	eng := enginetest.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.Run(ctx, eng); close(done) }()
	deadline := time.Now().Add(2 * time.Second)
	for calls.Load() < 1 || eng.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no first pass or no subscription")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// An app container joined to a sandbox holds no network of its own.
	eng.Emit(engine.Event{Action: "start", Labels: map[string]string{engine.LabelPodUID: "u1", engine.LabelContainer: "app", engine.LabelSandbox: "sb1"}})
	eng.Emit(engine.Event{Action: "start", Labels: map[string]string{engine.LabelPodUID: "u1", engine.LabelContainer: engine.SandboxContainerName}})
	for calls.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("a sandbox start did not turn hairpin on")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d passes; an app container start must not cause one", n)
	}
	// The only container of a pod without a sandbox holds its network.
	eng.Emit(engine.Event{Action: "start", Labels: map[string]string{engine.LabelPodUID: "u2", engine.LabelContainer: "web", engine.LabelSandbox: ""}})
	for calls.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("the start of a pod's only container did not turn hairpin on")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
}
