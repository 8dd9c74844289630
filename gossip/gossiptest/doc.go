// Package gossiptest runs clusters of in-process members on 127.0.0.1 for
// tests: each member has its own in-memory Store, a gossip.Cluster on a
// free port, and an httptest server for the pulls. Members can be stopped,
// restarted with their data, and partitioned from each other.
package gossiptest
