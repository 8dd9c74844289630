package proxy

import "time"

// SyncResult describes one sync, for Config.OnSync.
type SyncResult struct {
	// End is when the sync ended.
	End time.Time
	// Full: every chain was rewritten (the first sync, a resync, the sync
	// after a failure); otherwise only the chains that changed.
	Full bool
	// Tables are the tables restored; none when nothing changed.
	Tables []string
	// Generate is the time spent building the rules, Apply the time spent
	// in the tools (restore, jumps, conntrack).
	Generate, Apply time.Duration
	// Latency is from the first change this sync carries reaching the
	// proxier to its rules being installed; 0 for a sync without changes.
	Latency time.Duration
	// ServicePorts, Chains and Rules count what the rules hold now.
	ServicePorts, Chains, Rules int
	Err                         error
}

// Stats are the proxier's counters.
type Stats struct {
	// LastSync is when the last successful sync ended; zero before the
	// first, so it also tells whether the rules are in place.
	LastSync time.Time
	// ServicePorts, Chains and Rules count what the last successful sync
	// left in shoal's chains (both tables).
	ServicePorts, Chains, Rules int
	// Syncs counts successful syncs (including those that found nothing
	// to change), Restores the iptables-restore calls, Failures the failed
	// syncs.
	Syncs, Restores, Failures uint64
	// LastLatency is the change-to-rules-installed latency of the last sync
	// that carried changes, MaxLatency the largest seen.
	LastLatency, MaxLatency time.Duration
}
