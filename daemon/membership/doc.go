// Package membership is the agent's view of who is up, as node health,
// leadership and eviction read it: the gossip cluster provides it, and
// Static serves tests and a standalone agent.
package membership
