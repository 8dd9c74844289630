package dns

import (
	"sync"
	"sync/atomic"
)

// workPool runs the UDP queries the fast path does not answer: at most
// max goroutines, fed by a queue of at most queue jobs. A job that finds
// the queue full is refused, so a flood costs a bounded number of
// goroutines and bytes, never one goroutine per packet. Workers start as
// jobs come and end when the queue is empty, so an idle server holds none.
type workPool struct {
	jobs    chan func()
	max     int32
	running atomic.Int32
	wg      sync.WaitGroup
}

func newWorkPool(workers, queue int) *workPool {
	return &workPool{jobs: make(chan func(), queue), max: int32(workers)}
}

// submit queues job and reports whether it was taken.
func (p *workPool) submit(job func()) bool {
	select {
	case p.jobs <- job:
	default:
		return false
	}
	p.spawn()
	return true
}

// spawn starts a worker unless max are running; a running worker looks
// at the queue again before it ends, so no queued job is left behind.
func (p *workPool) spawn() {
	for {
		n := p.running.Load()
		if n >= p.max {
			return
		}
		if p.running.CompareAndSwap(n, n+1) {
			p.wg.Add(1)
			go p.work()
			return
		}
	}
}

func (p *workPool) work() {
	defer p.wg.Done()
	for {
		select {
		case job := <-p.jobs:
			job()
			continue
		default:
		}
		p.running.Add(-1)
		// A job queued after the queue looked empty but before this worker
		// stopped counting itself may have seen max workers and started
		// none: take it.
		if len(p.jobs) == 0 {
			return
		}
		if n := p.running.Add(1); n > p.max {
			p.running.Add(-1)
			return
		}
	}
}

// wait waits for the workers once nothing submits any more.
func (p *workPool) wait() { p.wg.Wait() }
