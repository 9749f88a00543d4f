// Command verifyprobe runs the verifier inside a TinyGo WebAssembly module, for tests and
// benchmarks, never for deployment. The host (verifyprobe_test.go) loads it in wazero with a
// state directory mounted as `keyplane sync --out` writes it, plus a file of valid keys, calls
// setup, then run(kind, n) to have it decide n requests of one kind; mallocs answers with the heap
// allocations so far: a test holds the verifier to no
// allocation per request inside TinyGo (where each one costs a share of a garbage collection of
// the whole heap), and a benchmark sets the cost of a decision inside a wasm guest beside the
// native verifier's, in the same process and the same seconds.
package main

import (
	"bytes"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/state"
	"github.com/keyplane/keyplane/verifier"
)

func main() {}

// Config is the verifier configuration of the probe and of its native twin in the test.
const Config = `{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]},{"path":"/admin/","scopes":["admin:all"]}]}`

// The kinds of request run decides.
const (
	KindAllowed      = iota // the next valid key, POST /events
	KindUnknown             // a well-formed key that is not in the snapshot
	KindBadChecksum         // a valid key with its last character changed
	KindMalformed           // not a key at all
	KindNoKey               // no key
	KindMissingScope        // a valid key on a route that needs a scope it lacks
	NumKinds
)

// fixedClock is read once per run, as an edge reads its clock once per request.
type fixedClock struct{ now time.Time }

func (c *fixedClock) Now() time.Time { return c.now }

var (
	clock fixedClock
	v     *verifier.Verifier
	cur   *state.State
	keys  []string
	reqs  [NumKinds]verifier.Request
)

//export setup
func setup() uint32 {
	if err := load("/state"); err != nil {
		os.Stderr.WriteString("verifyprobe: " + err.Error() + "\n")
		return 1
	}
	return 0
}

func load(dir string) error {
	cfg, err := verifier.ParseConfig([]byte(Config))
	if err != nil {
		return err
	}
	clock.now = time.Now()
	if v, err = verifier.New(cfg, verifier.WithClock(&clock)); err != nil {
		return err
	}
	doc, err := os.ReadFile(dir + "/trusted.json")
	if err != nil {
		return err
	}
	sk, err := verifier.ParseSigningKeys(doc)
	if err != nil {
		return err
	}
	blob, err := os.ReadFile(dir + "/snapshot.kps")
	if err != nil {
		return err
	}
	base, err := snapshot.Open(blob, verifier.Trust(nil, sk), snapshot.Limits{})
	if err != nil {
		return err
	}
	var rules state.Rules
	if cur, err = rules.Restore(base, nil); err != nil {
		return err
	}
	list, err := os.ReadFile(dir + "/keys.txt")
	if err != nil {
		return err
	}
	for _, k := range bytes.Fields(list) {
		keys = append(keys, string(k))
	}
	if len(keys) < 2 {
		return errString("keys.txt needs two keys or more")
	}
	// The last line is a key that is not in the snapshot.
	unknown := keys[len(keys)-1]
	keys = keys[:len(keys)-1]
	bad := []byte(keys[0]) // another base62 character last: the checksum no longer matches
	if c := &bad[len(bad)-1]; *c == 'A' {
		*c = 'B'
	} else {
		*c = 'A'
	}
	addr := netip.AddrFrom4([4]byte{192, 0, 2, 1})
	for k := range reqs {
		reqs[k] = verifier.Request{Method: "POST", Path: "/events", Host: "api.example.com", ClientIP: addr}
	}
	reqs[KindUnknown].Key = unknown
	reqs[KindBadChecksum].Key = string(bad)
	reqs[KindMalformed].Key = "not a key"
	reqs[KindMissingScope].Method, reqs[KindMissingScope].Path, reqs[KindMissingScope].Key = "GET", "/admin/users", keys[0]
	return nil
}

var next int

// run decides n requests of kind and returns 1, or 0 after any unexpected decision. (The host
// times the call: one call into the guest per n decisions.)
//
//export run
func run(kind, n uint32) uint64 {
	if kind >= NumKinds || v == nil {
		return 0
	}
	clock.now = time.Now()
	r := &reqs[kind]
	want := verifier.ReasonAllowed
	switch kind {
	case KindUnknown:
		want = verifier.ReasonUnknownKey
	case KindBadChecksum:
		want = verifier.ReasonBadChecksum
	case KindMalformed:
		want = verifier.ReasonMalformedKey
	case KindNoKey:
		want = verifier.ReasonMissingKey
	case KindMissingScope:
		want = verifier.ReasonInsufficientScope
	}
	st, exp := cur.Check()
	fresh := verifier.Freshness{ExpiresAt: exp}
	ok := true
	for i := uint32(0); i < n; i++ {
		if kind == KindAllowed {
			r.Key = nextKey()
		}
		if d := v.Check(r, st, fresh); d.Reason != want {
			ok = false
		}
	}
	if !ok {
		return 0
	}
	return 1
}

func nextKey() string {
	next++
	if next == len(keys) {
		next = 0
	}
	return keys[next]
}

// mallocs returns the number of heap allocations since the module started.
//
//export mallocs
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

type errString string

func (e errString) Error() string { return string(e) }
