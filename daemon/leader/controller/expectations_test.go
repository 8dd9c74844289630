package controller

import (
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) step(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestExpectationsCreations(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	e := newExpectations(time.Minute, clk.now)
	if !e.satisfied("rs") {
		t.Fatal("a key with no record must be satisfied")
	}
	e.expectCreations("rs", 2)
	if e.satisfied("rs") {
		t.Fatal("satisfied with 2 creations outstanding")
	}
	e.creationObserved("rs")
	e.creationObserved("other") // no record: no effect
	if e.satisfied("rs") {
		t.Fatal("satisfied with 1 creation outstanding")
	}
	e.creationObserved("rs")
	e.creationObserved("rs") // more than expected stays satisfied
	if !e.satisfied("rs") {
		t.Fatal("not satisfied after every creation was seen")
	}
}

func TestExpectationsDeletionsTrackPods(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	e := newExpectations(time.Minute, clk.now)
	e.expectDeletions("rs", []string{"default/a", "default/b"})
	e.deletionObserved("rs", "default/c") // not one we deleted
	e.deletionObserved("rs", "default/a")
	if e.satisfied("rs") {
		t.Fatal("satisfied with default/b outstanding")
	}
	e.deletionObserved("rs", "default/b")
	if !e.satisfied("rs") {
		t.Fatal("not satisfied after both deletions were seen")
	}
}

func TestExpectationsExpire(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	e := newExpectations(time.Minute, clk.now)
	e.expectCreations("rs", 3)
	clk.step(59 * time.Second)
	if e.satisfied("rs") {
		t.Fatal("expired early")
	}
	clk.step(2 * time.Second)
	if !e.satisfied("rs") {
		t.Fatal("a missed watch event blocks the key for longer than the timeout")
	}
	e.expectCreations("rs", 1)
	e.forget("rs")
	if !e.satisfied("rs") {
		t.Fatal("forget kept the record")
	}
}
