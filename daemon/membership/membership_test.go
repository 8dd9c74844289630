package membership

import (
	"testing"
	"time"
)

func TestStaticNotifiesEveryWatcherWithoutBlocking(t *testing.T) {
	var s Static
	a, stopA := s.Subscribe()
	b, stopB := s.Subscribe()
	defer stopB()

	// Two changes before anyone reads: the second must not block on the
	// first's pending signal.
	s.Set(Member{Name: "h1", Alive: true})
	s.Set(Member{Name: "h1", Alive: true}, Member{Name: "h2", Alive: false})

	for name, ch := range map[string]<-chan struct{}{"a": a, "b": b} {
		select {
		case <-ch:
		case <-time.After(time.Second):
			t.Fatalf("watcher %s was not signalled", name)
		}
	}
	if got := s.Members(); len(got) != 2 || got[1].Name != "h2" || got[1].Alive {
		t.Fatalf("Members() = %+v, want h1 alive and h2 down", got)
	}

	stopA()
	s.Set()
	select {
	case <-a:
		t.Fatal("a signalled after it unsubscribed")
	case <-b:
	case <-time.After(time.Second):
		t.Fatal("b was not signalled of the third change")
	}
	if got := s.Members(); len(got) != 0 {
		t.Fatalf("Members() = %+v after Set(), want none", got)
	}
}

func TestStaticMembersIsACopy(t *testing.T) {
	var s Static
	s.Set(Member{Name: "h1", Alive: true})
	got := s.Members()
	got[0].Alive = false
	if !s.Members()[0].Alive {
		t.Fatal("changing the returned slice changed the membership")
	}
}
