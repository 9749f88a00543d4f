//go:build !tinygo

package verifier

import (
	"sync/atomic"
	"time"
)

// wallResync is how often systemClock reads the time of day again.
const wallResync = 100 * time.Millisecond

// systemClock is the default clock: the time of day from one read of the monotonic clock per call,
// where time.Now reads both the wall and the monotonic clock (two vDSO calls, about 50 ns of a
// decision on the benchmark machine). It reads the wall clock again every wallResync, so a step
// of the system clock (an NTP correction), or a suspend (which the monotonic clock does not count),
// reaches the verifier within 100 ms; between reads it advances at the monotonic clock's rate,
// which NTP slews as it slews the wall clock.
type systemClock struct {
	start  time.Time    // carries a monotonic reading
	offset atomic.Int64 // unix nanoseconds at start, from the last wall-clock read
	synced atomic.Int64 // monotonic nanoseconds since start at that read
}

func newSystemClock() *systemClock {
	c := &systemClock{start: time.Now()}
	c.offset.Store(c.start.UnixNano())
	return c
}

// unixNano returns the time of day in unix nanoseconds. Concurrent calls may both resync; each
// stores a correct offset, so the race is harmless.
func (c *systemClock) unixNano() int64 {
	elapsed := int64(time.Since(c.start))
	if elapsed-c.synced.Load() >= int64(wallResync) {
		now := time.Now()
		c.offset.Store(now.UnixNano() - int64(now.Sub(c.start)))
		c.synced.Store(elapsed)
	}
	return c.offset.Load() + elapsed
}

func (c *systemClock) Now() time.Time { return time.Unix(0, c.unixNano()) }
