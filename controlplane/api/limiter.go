package api

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/controlplane/store"
	"github.com/keyplane/keyplane/verifier/ratelimit"
)

// limiter holds one GCRA state per key id for this replica. With several replicas each enforces
// the limit alone, as every edge does (docs/RATIONALE.md).
type limiter struct {
	mu    sync.Mutex
	state map[string]int64
}

func newLimiter() *limiter { return &limiter{state: map[string]int64{}} }

// sweepAt bounds memory: past this many keys, states that no longer limit anything are dropped.
const sweepAt = 100_000

func (l *limiter) allow(id string, lim ratelimit.Limit, now int64) ratelimit.Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.state) >= sweepAt {
		for k, tat := range l.state {
			if tat <= now {
				delete(l.state, k)
			}
		}
	}
	tat := l.state[id]
	d := lim.Allow(&tat, now)
	l.state[id] = tat
	return d
}

// rateLimit applies the key's limit, or its workspace's default; nil means no limit applies.
func (s *Server) rateLimit(ctx context.Context, k store.Key) (*ratelimit.Decision, error) {
	rl := k.RateLimit
	if rl == nil {
		w, err := s.workspace(ctx, k.WorkspaceID)
		if err != nil {
			return nil, err
		}
		rl = w.DefaultRateLimit
	}
	if rl == nil {
		return nil, nil
	}
	lim := ratelimit.Limit{Count: uint32(rl.Limit), Window: int64(rl.WindowSeconds) * int64(time.Second)}
	d := s.limiter.allow(k.ID, lim, s.clock.Now().UnixNano())
	return &d, nil
}

// setRateHeaders writes the IETF RateLimit-* fields.
func setRateHeaders(c *gin.Context, d *ratelimit.Decision) {
	h := c.Writer.Header()
	h.Set("RateLimit-Limit", strconv.FormatUint(uint64(d.Limit), 10))
	h.Set("RateLimit-Remaining", strconv.FormatUint(uint64(d.Remaining), 10))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.Reset), 10))
}

func ceilSeconds(ns int64) int64 { return (ns + int64(time.Second) - 1) / int64(time.Second) }
