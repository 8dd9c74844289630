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
}
