// Package scaletest measures how shoal scales, by simulation: many real
// agents in one process on loopback (daemon.RunSimulated), each with its
// own identity (one founds the cluster, the others join with its token),
// store on disk, encrypted gossip with mutual TLS, API, registry,
// controllers, scheduler and runner, and a fake container engine
// (enginetest.Fake) in place of Docker. One more agent can run in a
// process of its own, to measure one agent's memory alone.
//
// Run applies Deployments totalling the asked pods and measures, through
// the agents' APIs only (so that it keeps working while the agent's
// insides change): the time from the apply to every pod Running, the
// scheduling rate, how long a write takes to be seen by every agent, the
// memory per agent, the gossip traffic per agent, and how long a list of
// every pod takes. scripts/bench-scale runs it for several sizes and
// prints the table; docs/scale.md holds the results.
//
// TestScaleSmall is the reduced form CI runs: a few agents and pods,
// asserting only that every pod runs and every agent converges.
package scaletest
