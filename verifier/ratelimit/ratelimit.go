// Package ratelimit is a GCRA (generic cell rate algorithm) limiter: the whole state of one key is a
// single int64, the theoretical arrival time, so a limiter costs 8 bytes per key, never allocates
// per request, and builds with TinyGo. A limit of N per window allows a burst of N and then one
// request every window/N.
//
// The control plane keeps one state per key per replica; each edge keeps its own, so a limit is
// enforced per instance (docs/RATIONALE.md says why that is the right trade for an edge).
package ratelimit

// Limit is N requests per Window nanoseconds. The zero Limit allows everything.
type Limit struct {
	Count  uint32
	Window int64 // nanoseconds
}

// Decision is the outcome of one Allow call, with what the RateLimit-* headers need.
type Decision struct {
	Allowed    bool
	Limit      uint32
	Remaining  uint32
	RetryAfter int64 // nanoseconds until one more request is allowed; 0 when allowed
	Reset      int64 // nanoseconds until the full burst is available again
}

// Unlimited reports whether l enforces nothing.
func (l Limit) Unlimited() bool { return l.Count == 0 || l.Window <= 0 }

// Allow decides one request at time now (nanoseconds) and updates *tat, the key's state (zero for a
// key never seen).
func (l Limit) Allow(tat *int64, now int64) Decision {
	if l.Unlimited() {
		return Decision{Allowed: true}
	}
	interval := l.Window / int64(l.Count)
	if interval <= 0 {
		interval = 1
	}
	t := *tat
	if t < now {
		t = now
	}
	next := t + interval
	if allowAt := next - l.Window; now < allowAt {
		return Decision{Limit: l.Count, RetryAfter: allowAt - now, Reset: t - now}
	}
	*tat = next
	remaining := (l.Window - (next - now)) / interval
	if remaining < 0 {
		remaining = 0
	}
	return Decision{Allowed: true, Limit: l.Count, Remaining: uint32(remaining), Reset: next - now}
}
