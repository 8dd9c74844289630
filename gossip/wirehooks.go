package gossip

// Encoders of the wire format and a hook into push/pull, for the tests that
// run real in-process clusters (gossiptest) and forge what an attacker
// sends (here and in package registry). The agent does not use them.

// MergeRemoteState hands a push/pull state to the cluster as memberlist
// does after an exchange.
func (c *Cluster) MergeRemoteState(buf []byte) { (&delegate{c: c}).MergeRemoteState(buf, false) }

// EncodeState encodes a push/pull state.
func EncodeState(node string, horizon, records uint64, buckets []uint64) []byte {
	return (&peerState{Node: node, Horizon: horizon, Records: records, Buckets: buckets}).encode()
}

// EncodeRecordMessage encodes the gossip message of a whole record.
func EncodeRecordMessage(r *Record) []byte { return encodeRecordMsg(r) }

// EncodeAnnounce encodes the gossip message announcing a record whose
// content has the given Record.Sum.
func EncodeAnnounce(key string, v Version, sum uint64, from string) []byte {
	return encodeAnnounce(announce{Key: key, Version: v, Sum: sum, From: from})
}

// Pack makes an HLC timestamp of wall-clock milliseconds.
var Pack = pack
