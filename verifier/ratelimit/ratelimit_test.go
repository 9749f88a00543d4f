package ratelimit

import "testing"

const sec = int64(1e9)

func TestAllow(t *testing.T) {
	for _, tc := range []struct {
		name     string
		limit    Limit
		at       []int64 // request times in nanoseconds
		want     []bool
		lastLeft uint32
	}{
		{"unlimited", Limit{}, []int64{0, 0, 0}, []bool{true, true, true}, 0},
		{"burst then deny", Limit{3, sec}, []int64{0, 0, 0, 0}, []bool{true, true, true, false}, 0},
		{"refills one per interval", Limit{2, 2 * sec}, []int64{0, 0, sec - 1, sec}, []bool{true, true, false, true}, 0},
		{"full refill after window", Limit{2, sec}, []int64{0, 0, 0, 10 * sec}, []bool{true, true, false, true}, 1},
		{"ten per second steady", Limit{10, sec}, []int64{0, sec / 10, 2 * sec / 10}, []bool{true, true, true}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tat int64
			var d Decision
			for i, now := range tc.at {
				d = tc.limit.Allow(&tat, now)
				if d.Allowed != tc.want[i] {
					t.Fatalf("request %d at %d: allowed=%v, want %v", i, now, d.Allowed, tc.want[i])
				}
				if !d.Allowed && d.RetryAfter <= 0 {
					t.Fatalf("denied without Retry-After: %+v", d)
				}
			}
			if d.Allowed && d.Remaining != tc.lastLeft {
				t.Fatalf("remaining %d, want %d", d.Remaining, tc.lastLeft)
			}
		})
	}
}

func TestRetryAfterIsExact(t *testing.T) {
	l := Limit{1, 4 * sec}
	var tat int64
	l.Allow(&tat, 0)
	d := l.Allow(&tat, sec)
	if d.Allowed || d.RetryAfter != 3*sec {
		t.Fatalf("%+v", d)
	}
	if d := l.Allow(&tat, sec+d.RetryAfter); !d.Allowed {
		t.Fatalf("not allowed at retry time: %+v", d)
	}
}

func TestNeverMoreThanLimitPerWindow(t *testing.T) {
	l := Limit{100, sec}
	var tat int64
	allowed := 0
	for now := int64(0); now < 10*sec; now += sec / 1000 { // 10,000 attempts over 10 s
		if l.Allow(&tat, now).Allowed {
			allowed++
		}
	}
	// burst of 100 plus 100/s for the remaining ~10 s
	if allowed > 100+1000 || allowed < 1000 {
		t.Fatalf("allowed %d", allowed)
	}
}
