// Package workqueue is the keyed work queue the leader's controllers and
// scheduler run on, in the manner of client-go's: a key waits at most once,
// one worker holds a key at a time, failures back off per key.
package workqueue
