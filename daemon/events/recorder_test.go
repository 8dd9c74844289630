package events

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/internal/poll"

	"github.com/shoal-dev/shoal/api"
	"github.com/shoal-dev/shoal/gossip"
	"github.com/shoal-dev/shoal/registry"
)

func TestEventsAreWrittenAndRepeatsAggregated(t *testing.T) {
	st, _ := gossip.Open("", "n1", nil)
	defer st.Close()
	objs := registry.New(st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}})
	pod, _ := objs.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "i"}}}})
	rec := New(objs, "kubelet", "n1", slog.New(slog.DiscardHandler))
	go rec.Run(ctx)
	for i := 0; i < 3; i++ {
		rec.Eventf(pod, api.EventWarning, "BackOff", "Back-off restarting failed container %s", "c")
	}
	rec.Eventf(pod, api.EventNormal, "Started", "Started container c")
	deadline := time.Now().Add(3 * time.Second)
	for {
		list, _, _ := objs.List(ctx, api.KindEvent, "default", nil)
		counts := map[string]int32{}
		for _, o := range list {
			ev := o.(*api.Event)
			if ev.InvolvedObject.UID != pod.GetObjectMeta().UID || ev.Source.Host != "n1" {
				t.Fatalf("event about the wrong object: %+v", ev)
			}
			counts[ev.Reason] += ev.Count
		}
		if len(list) == 2 && counts["BackOff"] == 3 && counts["Started"] == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %d, counts %v", len(list), fmt.Sprint(counts))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A burst of events for many objects, larger than one writer's queue, is
// written whole, and the repeats of one event within it are aggregated
// into one Event whose count is every repeat.
func TestABurstOfEventsIsWrittenWholeAndRepeatsAggregated(t *testing.T) {
	st, err := gossip.Open(filepath.Join(t.TempDir(), "state.db"), "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	objs := registry.New(st)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := objs.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "default"}}); err != nil {
		t.Fatal(err)
	}
	rec := New(objs, "default-scheduler", "n1", slog.New(slog.DiscardHandler))
	const pods, repeats = 1500, 50
	for i := range pods {
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p-%04d", i), Namespace: "default", UID: fmt.Sprintf("uid-%d", i)}}
		rec.Eventf(pod, api.EventNormal, "Scheduled", "Successfully assigned default/%s to n1", pod.Name)
	}
	busy := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "busy", Namespace: "default", UID: "uid-busy"}}
	for range repeats {
		rec.Eventf(busy, api.EventWarning, "BackOff", "Back-off restarting failed container")
	}
	done := make(chan struct{})
	go func() { defer close(done); rec.Run(ctx) }()
	defer func() { cancel(); <-done }()
	poll.True(t, 30*time.Second, "every event written", func() (bool, string) {
		list, _, err := objs.List(ctx, api.KindEvent, "default", nil)
		if err != nil {
			return false, err.Error()
		}
		scheduled, backoffs, count := 0, 0, int32(0)
		for _, o := range list {
			switch ev := o.(*api.Event); ev.Reason {
			case "Scheduled":
				scheduled++
			case "BackOff":
				backoffs++
				count += ev.Count
			}
		}
		return scheduled == pods && backoffs == 1 && count == repeats,
			fmt.Sprintf("%d Scheduled, %d BackOff events counting %d", scheduled, backoffs, count)
	})
}
