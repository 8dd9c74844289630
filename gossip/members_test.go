package gossip

import (
	"net"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestMembershipStates(t *testing.T) {
	ms := newMembership("h1")
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ms.now = func() time.Time { clock = clock.Add(time.Second); return clock }
	changes, cancel := ms.subscribe()
	defer cancel()
	node := func(name string) *memberlist.Node {
		return &memberlist.Node{Name: name, Addr: net.IPv4(10, 0, 0, 2), Port: 7481}
	}
	ms.update(node("h1"), StateAlive, NodeMeta{}, false)
	ms.update(node("h2"), StateAlive, NodeMeta{APIAddr: "http://h2"}, false)
	ms.update(node("h3"), StateAlive, NodeMeta{}, false)
	select {
	case <-changes:
	default:
		t.Fatal("no change notified")
	}
	if ms.numAlive() != 3 || len(ms.peers()) != 2 {
		t.Fatalf("alive %d, peers %d", ms.numAlive(), len(ms.peers()))
	}
	stable := ms.stableSince()
	ms.update(node("h2"), StateAlive, NodeMeta{APIAddr: "http://h2"}, true) // Leave announced
	if !ms.stableSince().Equal(stable) {
		t.Fatal("a metadata update moved StableSince")
	}
	ms.update(node("h2"), StateDead, NodeMeta{}, false)
	ms.update(node("h3"), StateDead, NodeMeta{}, false)
	m2, _ := ms.get("h2")
	m3, _ := ms.get("h3")
	if m2.State != StateLeft || m3.State != StateDead {
		t.Fatalf("h2 %v (want left), h3 %v (want dead)", m2.State, m3.State)
	}
	if m2.Addr != "10.0.0.2:7481" {
		t.Fatalf("h2 = %+v", m2)
	}
	if ms.numAlive() != 1 || !ms.stableSince().Equal(m3.Since) {
		t.Fatalf("alive %d, stable since %v", ms.numAlive(), ms.stableSince())
	}
	ms.update(node("h2"), StateAlive, NodeMeta{}, false) // back
	if m2, _ = ms.get("h2"); m2.State != StateAlive || ms.numAlive() != 2 {
		t.Fatalf("h2 back: %v, alive %d", m2.State, ms.numAlive())
	}
}
