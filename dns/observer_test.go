package dns

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/shoal-dev/shoal/internal/poll"
)

type answerKey struct {
	qtype uint16
	rcode int
}

type answerCounter struct {
	mu      sync.Mutex
	answers map[answerKey]int
	slowest time.Duration
}

func (c *answerCounter) ObserveQuery(qtype uint16, rcode int, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[answerKey{qtype, rcode}]++
	c.slowest = max(c.slowest, took)
}

func (c *answerCounter) count(qtype uint16, rcode int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answers[answerKey{qtype, rcode}]
}

// Every answer is reported with its type and rcode, whether the fast path
// (UDP, from the zone) or the handler (TCP) sent it.
func TestObserverSeesEveryAnswerByTypeAndRcode(t *testing.T) {
	obs := &answerCounter{answers: map[answerKey]int{}}
	s := newTestServer(t, testConfig())
	s.SetObserver(obs)
	serveZone(s, fixture())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Listen(ctx, "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	addr := s.Addrs()[0]
	for _, network := range []string{"udp", "udp", "tcp"} {
		exchange(t, network, addr, "web.default.svc.cluster.local.", mdns.TypeA)
	}
	exchange(t, "udp", addr, "nosuch.default.svc.cluster.local.", mdns.TypeAAAA)
	poll.Until(t, 2*time.Second, "answers counted", func() error {
		if a, nx := obs.count(mdns.TypeA, mdns.RcodeSuccess), obs.count(mdns.TypeAAAA, mdns.RcodeNameError); a != 3 || nx != 1 {
			return fmt.Errorf("A NOERROR %d (want 3), AAAA NXDOMAIN %d (want 1)", a, nx)
		}
		return nil
	})
	if obs.slowest <= 0 || obs.slowest > 2*time.Second {
		t.Fatalf("latency %s", obs.slowest)
	}
}
