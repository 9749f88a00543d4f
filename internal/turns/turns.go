// Package turns measures two or more functions in alternating rounds within one benchmark, so
// that a ratio between them compares them at the same machine speed: on a shared virtual machine
// the speed drifts from second to second, by more than the goals the ratios are held to
// (docs/RATIONALE.md, "Ratios are measured in turns").
package turns

import (
	"testing"
	"time"
)

// Run calls each fn in turn for round calls (fn(i) for consecutive i) while the benchmark loops,
// and returns each fn's time per call in nanoseconds.
func Run(b *testing.B, round int, fns ...func(i int)) []float64 {
	total := make([]time.Duration, len(fns))
	i := 0
	for b.Loop() {
		for k, fn := range fns {
			start := time.Now()
			for j := 0; j < round; j++ {
				fn(i + j)
			}
			total[k] += time.Since(start)
		}
		i += round
	}
	per := make([]float64, len(fns))
	for k, d := range total {
		per[k] = float64(d.Nanoseconds()) / float64(i)
	}
	return per
}
