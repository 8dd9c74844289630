// Package clienttest runs an agent's API in memory for tests of clients:
// the real api/server.Server over the real registry.Registry over an
// in-memory gossip.Store, with the agent's admission chain (cluster IPs,
// Pod Security) and its authentication and RBAC (Server.Token is the
// admin's token). Clients under test therefore meet the real handlers,
// defaulting, validation, optimistic concurrency, graceful deletion and
// watch semantics. No controller, scheduler or node runs: a test writes
// what they would (Add, Update with a status), plays the nodes' logs and
// exec (SetLogs, Exec) and the agent's member list (SetMembers), and can
// look at every request received (Requests) and at the open watches
// (Watchers, SendWatchError).
package clienttest
