package verifier

import (
	"encoding/binary"
	"sync"

	"github.com/keyplane/keyplane/verifier/ratelimit"
)

// limiter holds the GCRA state (one int64) of every rate-limited key this instance has seen, keyed
// by the 16-byte lookup hash, in shards so that concurrent requests rarely share a lock.
//
// Each shard is an open-addressing table of 24-byte slots indexed by the hash itself (it is
// uniformly random already, so nothing is hashed again). In TinyGo a Go map with a mutex costs
// about 300 ns per request; this table costs a small fraction of that.
//
// Memory is bounded: a shard holds at most perShard keys (rate_limit_max_keys / 16, rounded up) in
// at most maxSlots slots, never more than 3/4 full. A state whose theoretical arrival time is not
// in the future is the same as no state at all (the key has its full burst), so dropping those
// loses nothing; that happens whenever a shard is rebuilt (when it grows, or when it is full). If a
// full shard still holds only live states, arbitrary ones are dropped until it is 7/8 full: those
// keys get a fresh burst (the limit errs on the lenient side, never on denying), and the next
// rebuild is at least 1/8 of the shard's keys away.
type limiter struct {
	shards   [limiterShards]limiterShard
	perShard int // most keys a shard holds
	maxSlots int // largest table of a shard
}

const (
	limiterShards   = 16
	limiterMinSlots = 64
)

type limiterShard struct {
	mu    sync.Mutex
	slots []rateSlot // len is a power of two; a zero key marks a free slot
	n     int
	_     [24]byte // keep shards on separate cache lines
}

type rateSlot struct {
	hi, lo uint64 // the lookup hash; never both zero
	tat    int64
}

func (l *limiter) init(maxKeys int) {
	l.perShard = (maxKeys + limiterShards - 1) / limiterShards
	l.maxSlots = limiterMinSlots
	for maxLoad(l.maxSlots) < l.perShard {
		l.maxSlots *= 2
	}
}

func maxLoad(slots int) int { return slots / 4 * 3 }

// allow decides one request of the key with SHA-256 *h at now (unix nanoseconds).
func (l *limiter) allow(h *[32]byte, lim ratelimit.Limit, now int64) ratelimit.Decision {
	hi, lo := binary.BigEndian.Uint64(h[0:8]), binary.BigEndian.Uint64(h[8:16])
	if hi == 0 && lo == 0 {
		lo = 1 // (0, 0) marks free slots; 2^-128 of keys share this state with (0, 1)
	}
	s := &l.shards[lo%limiterShards]
	s.mu.Lock()
	i, found := s.find(hi, lo)
	var tat int64
	if found {
		tat = s.slots[i].tat
	}
	d := lim.Allow(&tat, now)
	if d.Allowed {
		if !found && s.n+1 > min(maxLoad(len(s.slots)), l.perShard) {
			s.rebuild(now, l.maxSlots, l.perShard)
			i, _ = s.find(hi, lo)
		}
		if !found {
			s.slots[i].hi, s.slots[i].lo = hi, lo
			s.n++
		}
		s.slots[i].tat = tat
	}
	s.mu.Unlock()
	return d
}

// find returns the slot holding (hi, lo), or the free slot where it belongs; (0, false) when there
// is no table yet (allow rebuilds before inserting).
func (s *limiterShard) find(hi, lo uint64) (int, bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	mask := uint64(len(s.slots) - 1)
	for i := hi & mask; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.hi == hi && sl.lo == lo {
			return int(i), true
		}
		if sl.hi == 0 && sl.lo == 0 {
			return int(i), false
		}
	}
}

// rebuild makes room for one more key: it drops idle states in place, grows the table while it may
// (the only allocation: a bounded number of times), and when it is at its largest and still full,
// drops live states down to 7/8 of its load.
func (s *limiterShard) rebuild(now int64, maxSlots, perShard int) {
	for i := 0; i < len(s.slots); {
		if sl := &s.slots[i]; (sl.hi != 0 || sl.lo != 0) && sl.tat <= now {
			s.deleteAt(i) // another entry may have moved into i: look again
			continue
		}
		i++
	}
	size := max(len(s.slots), limiterMinSlots)
	for s.n+1 > maxLoad(size)/2 && size < maxSlots {
		size *= 2
	}
	if size > len(s.slots) {
		old := s.slots
		s.slots = make([]rateSlot, size)
		for _, sl := range old {
			if sl.hi != 0 || sl.lo != 0 {
				i, _ := s.find(sl.hi, sl.lo)
				s.slots[i] = sl
			}
		}
	}
	limit := min(maxLoad(size), perShard)
	keep := max(limit-limit/8-1, 0)
	for i := 0; s.n > keep && i < len(s.slots); {
		if sl := &s.slots[i]; sl.hi != 0 || sl.lo != 0 {
			s.deleteAt(i)
			continue
		}
		i++
	}
}

// deleteAt empties slot i, moving later entries of its probe run back (backward-shift deletion:
// no tombstones, so lookups stay short).
func (s *limiterShard) deleteAt(i int) {
	mask := len(s.slots) - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		sl := s.slots[j]
		if sl.hi == 0 && sl.lo == 0 {
			break
		}
		home := int(sl.hi) & mask
		// The entry at j may move to i unless its home lies cyclically in (i, j].
		if (i < j && i < home && home <= j) || (i > j && (home > i || home <= j)) {
			continue
		}
		s.slots[i] = sl
		i = j
	}
	s.slots[i] = rateSlot{}
	s.n--
}

// size returns the number of states held (tests).
func (l *limiter) size() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += s.n
		s.mu.Unlock()
	}
	return n
}
