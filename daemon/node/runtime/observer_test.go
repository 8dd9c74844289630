package runtime

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/internal/poll"
)

// countingObserver records what the runner reports.
type countingObserver struct {
	mu       sync.Mutex
	starts   []time.Duration
	restarts int
	steps    map[string]int
}

func (o *countingObserver) PodStartStep(step string, took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.steps == nil {
		o.steps = map[string]int{}
	}
	o.steps[step]++
}

func (o *countingObserver) PodStarted(took time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.starts = append(o.starts, took)
}

func (o *countingObserver) ContainerRestarted() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.restarts++
}

func (o *countingObserver) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.starts), o.restarts
}

func TestObserverCountsPodStartsOnceAndRestarts(t *testing.T) {
	obs := &countingObserver{}
	f := newFixtureWith(t, func(f *fixture) { f.cfg.Observer = obs })
	p := f.createPod("web", api.RestartAlways, api.Container{Name: "app", Image: "app:1"})
	poll.Until(t, 5*time.Second, "one start counted", func() error {
		if starts, _ := obs.counts(); starts != 1 {
			return fmt.Errorf("%d starts", starts)
		}
		return nil
	})
	f.eng.Kill(appContainer(f, p.UID, "app").ID, 1)
	poll.Until(t, 5*time.Second, "the restart counted", func() error {
		if _, restarts := obs.counts(); restarts != 1 {
			return fmt.Errorf("%d restarts", restarts)
		}
		return nil
	})
	// A restarted container leaves the pod Running: still one start.
	if starts, _ := obs.counts(); starts != 1 {
		t.Fatalf("%d pod starts after a container restart, want 1", starts)
	}
	if took := obs.starts[0]; took <= 0 || took > 5*time.Second {
		t.Fatalf("start latency %s", took)
	}
	// The first start's steps were observed once each; the restart of the
	// container (after the pod ran) added none.
	obs.mu.Lock()
	defer obs.mu.Unlock()
	for _, step := range []string{StepSandboxCreate, StepSandboxStart, StepSandboxInfo, StepVolumes, StepImage, StepAppCreate, StepAppStart} {
		if obs.steps[step] != 1 {
			t.Errorf("step %s observed %d times, want 1 (%v)", step, obs.steps[step], obs.steps)
		}
	}
	if obs.steps[StepStatus] < 1 {
		t.Errorf("no status write observed (%v)", obs.steps)
	}
}
