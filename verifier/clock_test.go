//go:build !tinygo

package verifier

import (
	"testing"
	"time"
)

func TestSystemClock(t *testing.T) {
	near := func(t *testing.T, got int64) {
		t.Helper()
		if d := time.Duration(got - time.Now().UnixNano()); d < -50*time.Millisecond || d > 50*time.Millisecond {
			t.Fatalf("system clock is %v off time.Now", d)
		}
	}
	t.Run("agrees with time.Now and does not go back", func(t *testing.T) {
		c := newSystemClock()
		prev := c.unixNano()
		for range 1000 {
			now := c.unixNano()
			if now < prev {
				t.Fatalf("went back from %d to %d", prev, now)
			}
			prev = now
		}
		near(t, prev)
		near(t, c.Now().UnixNano())
	})
	t.Run("follows a step of the wall clock at the next resync", func(t *testing.T) {
		c := newSystemClock()
		// As if the wall clock had been an hour behind at the last read, a resync period ago.
		c.offset.Add(-int64(time.Hour))
		c.synced.Store(-int64(wallResync))
		near(t, c.unixNano())
	})
	t.Run("does not read the wall clock between resyncs", func(t *testing.T) {
		c := newSystemClock()
		c.offset.Add(-int64(time.Hour)) // a wrong offset survives until the next resync,
		c.synced.Store(1 << 62)         // which this test puts off for good
		if d := time.Now().UnixNano() - c.unixNano(); d < int64(time.Hour)-int64(time.Second) {
			t.Fatalf("offset re-read early: %v", time.Duration(d))
		}
	})
}
