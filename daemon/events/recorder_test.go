package events

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

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
