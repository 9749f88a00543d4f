package verifier

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier/ratelimit"
)

// policyInfo is what the verifier derives from one decoded snapshot.Policy, once: parsed CIDRs,
// compiled host patterns, the joined scopes for the upstream header, which routes the policy's
// scopes satisfy, and its rate limit. It is immutable but for the used flag.
type policyInfo struct {
	p              *snapshot.Policy
	used           atomic.Bool // read since the last sweep
	cidrRestricted bool
	hostRestricted bool
	cidrs          []netip.Prefix
	exactHosts     []string // lower-case
	hostSuffixes   []string // "*.example.com" as ".example.com"
	scopes         string   // the policy's scopes joined by ","
	routeBits      []uint64 // bit i: the policy holds every scope of route i
	limit          ratelimit.Limit
}

var emptyPolicy = &snapshot.Policy{}

func newPolicyInfo(p *snapshot.Policy, routes []route) *policyInfo {
	pi := &policyInfo{
		p:              p,
		cidrRestricted: len(p.AllowedCIDRs) > 0,
		hostRestricted: len(p.AllowedHosts) > 0,
		limit:          ratelimit.Limit{Count: p.RateLimit, Window: int64(p.RateWindow) * 1e9},
	}
	pi.cidrs = compileCIDRs(p.AllowedCIDRs)
	pi.exactHosts, pi.hostSuffixes = compileHosts(p.AllowedHosts)
	n := 0
	for _, s := range p.Scopes {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range p.Scopes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, s...)
	}
	pi.scopes = string(b)
	pi.routeBits = make([]uint64, (len(routes)+63)/64)
	for i := range routes {
		if hasAll(p.Scopes, routes[i].scopes) {
			pi.routeBits[i/64] |= 1 << (i % 64)
		}
	}
	return pi
}

// compileCIDRs parses a policy's CIDRs. One that does not parse matches nothing: the key stays
// restricted (fail closed).
func compileCIDRs(cidrs []string) []netip.Prefix {
	var out []netip.Prefix
	for _, c := range cidrs {
		if pf, err := netip.ParsePrefix(c); err == nil {
			out = append(out, pf.Masked())
		} else if a, err := netip.ParseAddr(c); err == nil {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// compileHosts splits a policy's hosts into exact names and "*.example.com" suffixes
// (".example.com"), lower-case.
func compileHosts(hosts []string) (exact, suffixes []string) {
	for _, h := range hosts {
		h = lower(h)
		if hasPrefix(h, "*.") && len(h) > 2 {
			suffixes = append(suffixes, h[1:])
		} else if h != "" {
			exact = append(exact, h)
		}
	}
	return exact, suffixes
}

// AddrAllowed reports whether a client at ip may use a key restricted to cidrs, by the rule every
// edge applies: an empty list allows any address; otherwise the zero Addr (no address known) is
// refused. The control plane's own checks call it, so that both answer alike.
func AddrAllowed(cidrs []string, ip netip.Addr) bool {
	pi := policyInfo{cidrRestricted: len(cidrs) > 0, cidrs: compileCIDRs(cidrs)}
	return pi.ipAllowed(ip)
}

// HostAllowed reports whether a request for host (as in a Host header: a name, an optional port)
// may use a key restricted to hosts, by the rule every edge applies: an empty list allows any
// host; otherwise "" is refused. The control plane's central verification calls it.
func HostAllowed(hosts []string, host string) bool {
	pi := policyInfo{hostRestricted: len(hosts) > 0}
	pi.exactHosts, pi.hostSuffixes = compileHosts(hosts)
	return pi.hostAllowed(stripPort(host))
}

// hasAll reports whether have holds every scope of want. Scopes match exactly, as in the control
// plane.
func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (pi *policyInfo) routeOK(i int) bool { return pi.routeBits[i/64]&(1<<(i%64)) != 0 }

func (pi *policyInfo) ipAllowed(ip netip.Addr) bool {
	if !pi.cidrRestricted {
		return true
	}
	ip = ip.Unmap()
	for _, p := range pi.cidrs {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// hostAllowed matches host (already without scheme, port and trailing dot; any case) against the
// policy's hosts: exact, or "*.example.com" for any name below example.com (not example.com
// itself), as the control plane does.
func (pi *policyInfo) hostAllowed(host string) bool {
	if !pi.hostRestricted {
		return true
	}
	if host == "" || host[0] == '.' {
		return false
	}
	for _, h := range pi.exactHosts {
		if equalFoldASCII(host, h) {
			return true
		}
	}
	for _, s := range pi.hostSuffixes {
		if len(host) > len(s) && equalFoldASCII(host[len(host)-len(s):], s) {
			return true
		}
	}
	return false
}

// equalFoldASCII compares s with t, which is lower-case.
func equalFoldASCII(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != t[i] {
			return false
		}
	}
	return true
}

// policyCache maps decoded policies (by pointer: a snapshot's entries point into its stable policy
// table) to their policyInfo. Reads go through a small direct-mapped front table indexed by the
// entry's policy index, lock-free; a miss takes a mutex and a map keyed by the pointer. (sync.Map
// would do in Go, but in TinyGo it is a map with interface keys, which allocates on every lookup.)
// Entries not used between two sweeps are dropped, so the policies of snapshots that have been
// replaced are released within two sweep intervals.
type policyCache struct {
	front     [policyFrontSize]atomic.Pointer[policyInfo]
	mu        sync.Mutex
	m         map[*snapshot.Policy]*policyInfo
	nextSweep atomic.Int64 // unix nanoseconds
	routes    []route
}

const (
	policyFrontSize = 256
	// policySweepInterval is the time between sweeps of the policy cache.
	policySweepInterval = 10e9
)

func (c *policyCache) get(e *snapshot.Entry, now int64) *policyInfo {
	p := e.Policy
	if p == nil {
		p = emptyPolicy
	}
	if now >= c.nextSweep.Load() {
		c.sweep(now)
	}
	slot := &c.front[(e.PolicyIndex*2+b2u(e.FromDelta))%policyFrontSize]
	if pi := slot.Load(); pi != nil && pi.p == p {
		if !pi.used.Load() {
			pi.used.Store(true)
		}
		return pi
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[*snapshot.Policy]*policyInfo)
	}
	pi := c.m[p]
	if pi == nil {
		pi = newPolicyInfo(p, c.routes)
		c.m[p] = pi
	}
	pi.used.Store(true)
	c.mu.Unlock()
	slot.Store(pi)
	return pi
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

func (c *policyCache) sweep(now int64) {
	if !c.mu.TryLock() {
		return
	}
	if now >= c.nextSweep.Load() {
		for p, pi := range c.m {
			if !pi.used.Load() {
				delete(c.m, p)
			} else {
				pi.used.Store(false)
			}
		}
		for i := range c.front {
			c.front[i].Store(nil)
		}
		c.nextSweep.Store(now + policySweepInterval)
	}
	c.mu.Unlock()
}

// size returns the number of cached policies (tests).
func (c *policyCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
