package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/shoal-dev/shoal/api"
)

func rankPod(name, node, phase string, readySince time.Time, restarts int32, created time.Time) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: api.NewTime(created)},
		Spec: api.PodSpec{NodeName: node}}
	p.Status = runningStatus(phase, !readySince.IsZero(), restarts, readySince)
	return p
}

func TestLessUsefulRanksAsKubernetes(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	cases := []struct {
		name string
		a, b *api.Pod // a must go first
	}{
		{"unscheduled before scheduled",
			rankPod("z", "", api.PodRunning, t0, 0, t0), rankPod("a", "n1", api.PodPending, time.Time{}, 5, t0.Add(time.Hour))},
		{"pending before running",
			rankPod("z", "n1", api.PodPending, time.Time{}, 0, t0), rankPod("a", "n1", api.PodRunning, time.Time{}, 9, t0.Add(time.Hour))},
		{"no phase yet counts as pending",
			rankPod("z", "n1", "", time.Time{}, 0, t0), rankPod("a", "n1", api.PodUnknown, time.Time{}, 0, t0)},
		{"unknown before running",
			rankPod("z", "n1", api.PodUnknown, time.Time{}, 0, t0), rankPod("a", "n1", api.PodRunning, time.Time{}, 0, t0)},
		{"not ready before ready",
			rankPod("z", "n1", api.PodRunning, time.Time{}, 0, t0), rankPod("a", "n1", api.PodRunning, t0, 7, t0.Add(time.Hour))},
		{"ready for less time before ready for longer",
			rankPod("z", "n1", api.PodRunning, t0.Add(time.Minute), 0, t0), rankPod("a", "n1", api.PodRunning, t0, 3, t0.Add(time.Hour))},
		{"more restarts before fewer",
			rankPod("z", "n1", api.PodRunning, t0, 2, t0), rankPod("a", "n1", api.PodRunning, t0, 1, t0.Add(time.Hour))},
		{"newer before older",
			rankPod("z", "n1", api.PodRunning, t0, 1, t0.Add(time.Second)), rankPod("a", "n1", api.PodRunning, t0, 1, t0)},
		{"then by name",
			rankPod("a", "n1", api.PodRunning, t0, 1, t0), rankPod("b", "n1", api.PodRunning, t0, 1, t0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !lessUseful(tc.a, tc.b) {
				t.Fatalf("%s should go before %s", tc.a.Name, tc.b.Name)
			}
			if lessUseful(tc.b, tc.a) {
				t.Fatalf("%s and %s both go first", tc.a.Name, tc.b.Name)
			}
		})
	}
}

func TestPodsToDeleteIsDeterministic(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	pods := []*api.Pod{
		rankPod("c", "n1", api.PodRunning, t0, 0, t0),
		rankPod("a", "n1", api.PodRunning, t0, 0, t0),
		rankPod("d", "", api.PodPending, time.Time{}, 0, t0),
		rankPod("b", "n1", api.PodRunning, t0, 0, t0),
	}
	want := "d,a"
	for range 20 {
		// Any input order picks the same pods.
		shuffled := []*api.Pod{pods[3], pods[1], pods[0], pods[2]}
		var got []string
		for _, p := range podsToDelete(shuffled, 2) {
			got = append(got, p.Name)
		}
		if strings.Join(got, ",") != want {
			t.Fatalf("picked %v, want %s", got, want)
		}
		pods[0], pods[1], pods[2], pods[3] = pods[1], pods[2], pods[3], pods[0]
	}
}

func TestPodAvailability(t *testing.T) {
	now := time.Unix(1_700_000_100, 0)
	ready := rankPod("p", "n1", api.PodRunning, now.Add(-10*time.Second), 0, now)
	if !isPodAvailable(ready, 0, now) || !isPodAvailable(ready, 9, now) || isPodAvailable(ready, 10, now) {
		t.Fatal("available means ready for more than minReadySeconds")
	}
	if d, ok := availableIn(ready, 15, now); !ok || d != 5*time.Second {
		t.Fatalf("availableIn = %v %v, want 5s", d, ok)
	}
	notReady := rankPod("q", "n1", api.PodRunning, time.Time{}, 0, now)
	if isPodAvailable(notReady, 0, now) {
		t.Fatal("a pod that is not ready is not available")
	}
	if _, ok := availableIn(notReady, 5, now); ok {
		t.Fatal("a pod that is not ready has no time to availability")
	}
}
