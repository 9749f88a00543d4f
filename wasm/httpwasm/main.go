// Command httpwasm is keyplane's verifier as an http-wasm guest (Traefik, Dapr, any net/http
// server through http-wasm-host-go, and `keyplane edge`). Guests make no HTTP calls and have no
// timers, so it reads the verified state that `keyplane sync --out DIR` keeps in a directory the
// host mounts: it looks at the small state.json at most every 100 ms and reloads the snapshot
// only when that changes. Its configuration is the verifier's JSON document with "snapshot_dir"
// (the directory as the guest sees it) and, optionally, pinned "signing_keys"; keys the agent has
// come to trust (trusted.json) are trusted too.
//
// The host pools one instance per concurrent request, and each instance holds its own copy of the
// snapshot: memory is (snapshot bytes + a few MB) per instance.
package main

import (
	"bytes"
	"net/netip"
	"os"
	"time"

	"github.com/http-wasm/http-wasm-guest-tinygo/handler"
	"github.com/http-wasm/http-wasm-guest-tinygo/handler/api"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/state"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/wasm/httpwasm/abi"
	"github.com/keyplane/keyplane/wasm/wasiclock"
)

func main() {}

func init() {
	g, err := newGuest(handler.Host.GetConfig())
	if err != nil {
		handler.Host.Log(api.LogLevelError, "keyplane: "+err.Error())
		handler.HandleRequestFn = func(_ api.Request, resp api.Response) (bool, uint32) {
			resp.SetStatusCode(500)
			resp.Headers().Set("Content-Type", "application/json")
			resp.Body().WriteString(`{"error":{"type":"api_error","code":"verifier_misconfigured","message":"the keyplane filter's configuration is invalid; see the proxy's log"}}`)
			return false, 0
		}
		return
	}
	handler.HandleRequestFn = g.handle
}

// checkEvery is how often a busy guest looks at state.json (a ~200-byte read): it bounds how
// late a revocation takes effect after the agent wrote it.
const checkEvery = 100 * time.Millisecond

// requestClock reads the host's clock once per request: a clock read is a host call, and both the
// guest and the verifier need the time.
type requestClock struct{ now time.Time }

func (c *requestClock) Now() time.Time { return c.now }

type guest struct {
	fields     *abi.Fields
	attrs      attributes // fields, as the verifier asks for them
	keyHeader  string     // the key header's name, canonical; "" when keys come in the query only
	idScratch  [apikey.IDLen]byte
	numScratch [20]byte // a 429's numbers (DenialHeadersCopied)
	clock      requestClock
	cfg        verifier.Config
	v          *verifier.Verifier
	rules      state.Rules
	cur        *state.State
	lastState  []byte    // state.json as last loaded
	checked    time.Time // when state.json was last looked at
}

func newGuest(doc []byte) (*guest, error) {
	cfg, err := verifier.ParseConfig(doc)
	if err != nil {
		return nil, err
	}
	if cfg.SnapshotDir == "" {
		return nil, errString(`the configuration needs "snapshot_dir", the directory keyplane sync --out writes`)
	}
	g := &guest{cfg: cfg, fields: abi.NewFields(), clock: requestClock{now: time.Now()}}
	g.attrs = attributes{g.fields}
	if g.v, err = verifier.New(cfg, verifier.WithClock(&g.clock)); err != nil {
		return nil, err
	}
	if kh := g.v.KeyHeader(); kh != "" {
		g.keyHeader = abi.Canonical(kh)
	}
	g.reload(g.clock.now)
	return g, nil
}

func (g *guest) path(name string) string { return g.cfg.SnapshotDir + "/" + name }

// reload loads the directory's state when state.json changed. The agent writes the blobs first
// and state.json last, each atomically, so a changed state.json means the blobs are complete.
func (g *guest) reload(now time.Time) {
	g.checked = now
	st, err := os.ReadFile(g.path("state.json"))
	if err != nil || bytes.Equal(st, g.lastState) {
		return
	}
	if err := g.load(st, now); err != nil {
		handler.Host.Log(api.LogLevelWarn, "keyplane: snapshot directory refused: "+err.Error())
		return
	}
	g.lastState = st
}

func (g *guest) load(st []byte, now time.Time) error {
	trusted := verifier.Trust(nil, g.cfg.SigningKeys)
	if doc, err := os.ReadFile(g.path("trusted.json")); err == nil {
		if keys, err := verifier.ParseSigningKeys(doc); err == nil {
			trusted = verifier.Trust(trusted, keys)
		}
	}
	blob, err := os.ReadFile(g.path("snapshot.kps"))
	if err != nil {
		return err
	}
	base, err := snapshot.Open(blob, trusted, snapshot.Limits{})
	if err != nil {
		return err
	}
	var d *snapshot.Delta
	if bytes.Contains(st, []byte(`"has_delta":true`)) {
		db, err := os.ReadFile(g.path("delta.kps"))
		if err != nil {
			return err
		}
		if d, err = snapshot.OpenDelta(db, trusted, snapshot.Limits{}); err != nil {
			return err
		}
	}
	// The agent enforced freshness when it accepted these blobs; an expired state still loads
	// here, and the failure mode decides what to do with it.
	next, err := g.rules.Restore(base, d)
	if err != nil {
		return err
	}
	g.cur = next
	return nil
}

func (g *guest) handle(req api.Request, resp api.Response) (next bool, reqCtx uint32) {
	now := wasiclock.Now()
	g.clock.now = now
	if now.Sub(g.checked) >= checkEvery {
		g.reload(now)
	}
	f := g.fields
	uri := f.URI()
	hv := ""
	if g.keyHeader != "" {
		hv = f.Key(g.keyHeader)
	}
	key, _ := g.v.ExtractKey(hv, uri)
	r := verifier.Request{Method: f.Method(), Path: uri, Key: key, Attributes: &g.attrs}
	keys, exp := g.cur.Check()
	d := g.v.Check(&r, keys, verifier.Freshness{ExpiresAt: exp})
	if !d.Allowed {
		d.DenialHeadersCopied(&g.numScratch, abi.SetResponseHeader) // the host copies each value
		resp.SetStatusCode(uint32(d.Status))
		abi.WriteResponseBody(d.Body)
		return false, 0
	}
	if d.StripKey {
		if g.keyHeader != "" {
			abi.RemoveRequestHeader(g.keyHeader)
		}
		if g.cfg.KeyQuery != "" {
			req.SetURI(string(g.v.AppendStrippedTarget(nil, uri)))
		}
	}
	// Set replaces whatever the client sent; the host copies each value before Set returns.
	d.IdentityHeadersCopied(&g.idScratch, setIdentityHeader, removeIdentityHeader)
	return true, 0
}

// attributes are the request's fields as a verifier.Attributes: the client's address parsed.
type attributes struct{ *abi.Fields }

func (a *attributes) ClientIP() netip.Addr {
	ip, _ := verifier.ParseClientAddr(a.SourceAddr())
	return ip
}

// The identity headers by their canonical names (abi.Canonical says why).
func setIdentityHeader(name, value string) { abi.SetRequestHeader(canonicalIdentity(name), value) }
func removeIdentityHeader(name string)     { abi.RemoveRequestHeader(canonicalIdentity(name)) }

func canonicalIdentity(name string) string {
	switch name {
	case verifier.HeaderKeyID:
		return "X-Keyplane-Key-Id"
	case verifier.HeaderWorkspace:
		return "X-Keyplane-Workspace"
	case verifier.HeaderScopes:
		return "X-Keyplane-Scopes"
	}
	return name
}

type errString string

func (e errString) Error() string { return string(e) }
