package gossip

// DefaultHistoryBytes bounds the bytes of the changes the store keeps for
// watches that resume (WithHistoryBytes): with records of the largest size
// (MaxValueSize) the count bound alone would let the history hold gigabytes.
const DefaultHistoryBytes = 64 << 20

// changeOverhead is what one kept change costs beyond its values and key:
// the Change, the Record of the old value kept alive, slice and map slots.
const changeOverhead = 128

// WithHistoryBytes sets how many bytes of changes (old and new values,
// keys) the store keeps for watches that resume from a stamp (default
// DefaultHistoryBytes). A watch that resumes from further back gets
// ErrStampTooOld, and lists again.
func WithHistoryBytes(n int) Option {
	return func(o *storeOptions) {
		if n > 0 {
			o.historyBytes = n
		}
	}
}

// historySize is what a kept change counts against the byte bound.
func historySize(ch Change) int {
	return changeBytes(ch) + len(ch.New.Key) + changeOverhead
}

// remember appends ch to the history; when the history is over its count
// or byte bound it drops its oldest quarter (or, for bytes, as many of the
// oldest as bring it under three quarters of the bound), raising ringFloor:
// resuming from before it answers ErrStampTooOld. s.mu is held.
func (s *Store) remember(ch Change) {
	s.ring = append(s.ring, ch)
	s.ringBytes += historySize(ch)
	drop := 0
	if len(s.ring) > ringSize {
		drop = len(s.ring) / 4
	}
	if s.ringBytes > s.ringLimit {
		freed, target, n := 0, s.ringBytes-s.ringLimit*3/4, 0
		for ; n < len(s.ring)-1 && freed < target; n++ {
			freed += historySize(s.ring[n])
		}
		drop = max(drop, n)
	}
	if drop == 0 {
		return
	}
	for _, old := range s.ring[:drop] {
		s.ringBytes -= historySize(old)
	}
	s.cutBehind(s.ring[drop-1].Stamp)
	s.ringFloor = s.ring[drop-1].Stamp
	s.ring = append(s.ring[:0:0], s.ring[drop:]...)
}

// HistoryBytes returns how many bytes of changes the history holds now.
func (s *Store) HistoryBytes() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.ringBytes
}
