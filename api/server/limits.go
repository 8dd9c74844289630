package server

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/shoal-dev/shoal/api"
)

// Limits bounds what requests may hold and how long they may take. Zero
// fields take the defaults (DefaultLimits).
type Limits struct {
	// MaxWatches and MaxWatchesPerClient bound open watches, in all and
	// per client (Config.ClientKey).
	MaxWatches, MaxWatchesPerClient int
	// MaxStreams and MaxStreamsPerClient bound log streams and exec
	// sessions (forwarded ones included), in all and per client.
	MaxStreams, MaxStreamsPerClient int
	// MaxApplyObjects bounds the objects of one apply.
	MaxApplyObjects int
	// MaxWebsocketMessage bounds one message an exec client sends, and
	// one SPDY frame of an exec, attach or port-forward.
	MaxWebsocketMessage int
	// BodyTimeout is how long a request body may take to arrive.
	BodyTimeout time.Duration
	// WriteTimeout is how long a request that is not a stream may take
	// from its start to the end of its answer.
	WriteTimeout time.Duration
	// StreamWriteTimeout is how long one write of a stream (a watch event,
	// log lines, exec output) may go without progress before the stream
	// is cut off.
	StreamWriteTimeout time.Duration
}

// DefaultLimits are the limits of an agent.
var DefaultLimits = Limits{
	MaxWatches:          1000,
	MaxWatchesPerClient: 100,
	MaxStreams:          200,
	MaxStreamsPerClient: 50,
	MaxApplyObjects:     api.DefaultMaxObjects,
	MaxWebsocketMessage: 1 << 20,
	BodyTimeout:         time.Minute,
	WriteTimeout:        2 * time.Minute,
	StreamWriteTimeout:  30 * time.Second,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pickD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MaxWatches, d.MaxWatches)
	pick(&l.MaxWatchesPerClient, d.MaxWatchesPerClient)
	pick(&l.MaxStreams, d.MaxStreams)
	pick(&l.MaxStreamsPerClient, d.MaxStreamsPerClient)
	pick(&l.MaxApplyObjects, d.MaxApplyObjects)
	pick(&l.MaxWebsocketMessage, d.MaxWebsocketMessage)
	pickD(&l.BodyTimeout, d.BodyTimeout)
	pickD(&l.WriteTimeout, d.WriteTimeout)
	pickD(&l.StreamWriteTimeout, d.StreamWriteTimeout)
	return l
}

// RemoteIP is the default Config.ClientKey: the address the request came
// from, without its port.
func RemoteIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	if r.RemoteAddr == "" || r.RemoteAddr == "@" {
		return "local"
	}
	return r.RemoteAddr
}

// retryAfter is what a refused client is told to wait, in seconds.
const retryAfter = 1

// concurrency counts what is open, in all and per client.
type concurrency struct {
	what             string // "watches", "log and exec streams"
	total, perClient int
	mu               sync.Mutex
	open             int
	byClient         map[string]int // only clients with something open
}

func newConcurrency(what string, total, perClient int) *concurrency {
	return &concurrency{what: what, total: total, perClient: perClient, byClient: map[string]int{}}
}

// acquire takes a place for client, or says with a 429 why there is none.
// release gives it back; it must be called exactly once.
func (c *concurrency) acquire(client string) (release func(), err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byClient[client] >= c.perClient {
		return nil, api.NewTooManyRequests(fmt.Sprintf("too many open %s: this client (%s) has %d, the most one client may have; close some, or retry later",
			c.what, client, c.perClient), retryAfter)
	}
	if c.open >= c.total {
		return nil, api.NewTooManyRequests(fmt.Sprintf("too many open %s: this agent serves %d, its limit; retry later", c.what, c.total), retryAfter)
	}
	c.open++
	c.byClient[client]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.open--
			if c.byClient[client]--; c.byClient[client] <= 0 {
				delete(c.byClient, client)
			}
		})
	}, nil
}

// inUse returns how many places are taken, for tests and metrics.
func (c *concurrency) inUse() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open
}
