// Package informer is the agent's one shared, read-only cache of the
// cluster's objects. Per kind it holds one watch on the registry (in
// process), so that every change is decoded once, whatever the number of
// consumers; the decoded objects are shared by every consumer and must
// never be changed (copy them first with Copy).
//
// A Cache keeps the objects of one kind with indexes by namespace, by
// owner uid, by a pod's spec.nodeName and by label (within a namespace), so
// that "the pods of this ReplicaSet" or "the pods of this node" cost the
// size of the answer, not of the kind.
//
// Consumers learn of changes through handlers (AddHandler) or a channel
// (Watch). Each consumer has its own queue, keyed by object: a change to
// an object the consumer has not taken yet replaces the pending one, so the
// queue never holds more than one entry per object and a slow consumer
// never stalls the informer or any other consumer. An object that came and
// went before the consumer took it is told as a delete (so that a
// controller counting the pods it made sees each one). Handlers run on the
// consumer's own goroutine and should only enqueue work.
//
// When the registry ends a watch (the informer fell behind and got a 410,
// or the store closed the subscription) the kind is listed again and the
// difference delivered: objects gone meanwhile as deletes, changed ones as
// updates, so consumers keep a consistent view without a relist of their
// own.
package informer
