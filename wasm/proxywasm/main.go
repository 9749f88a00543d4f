// Command proxywasm is keyplane's verifier as a proxy-wasm filter (Envoy, Istio, APISIX). It
// fetches signed snapshots and deltas from the control plane itself, with dispatched HTTP calls on
// a tick, verifies them, and decides every request locally with package verifier. Its plugin
// configuration is the verifier's JSON document with a "control_plane" section and pinned
// "signing_keys" (docs/verifier.md, docs/wasm.md). After a signing-key rotation it trusts the new
// key once a trusted key's endorsement of it checks out (package sync/trust).
//
// Envoy runs one VM per worker thread: each worker holds its own copy of the snapshot and its own
// rate-limit table, so memory is (snapshot bytes + a few MB) per worker, and a rate limit applies
// per worker.
//
// Build: make wasm (TinyGo, -target=wasip1 -buildmode=c-shared; also with mainline Go).
package main

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/state"
	"github.com/keyplane/keyplane/sync/trust"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/wasm/wasiclock"
)

func main() {}

func init() { proxywasm.SetVMContext(&vm{}) }

type vm struct{ types.DefaultVMContext }

func (*vm) NewPluginContext(uint32) types.PluginContext { return &plugin{} }

// plugin holds the configuration, the verified state and the sync loop of one VM.
type plugin struct {
	types.DefaultPluginContext
	cfg      verifier.Config
	v        *verifier.Verifier
	trusted  snapshot.Trusted
	rules    state.Rules
	cur      *state.State
	inflight bool
	rebase   bool
	pending  []byte // a blob signed by a key not yet trusted, kept while its endorsement is fetched
	full     bool   // whether pending is a full snapshot
	// idScratch holds the key id while the proxy copies it into the request (one worker: one
	// request at a time).
	idScratch [apikey.IDLen]byte
}

func (p *plugin) OnPluginStart(int) types.OnPluginStartStatus {
	data, err := proxywasm.GetPluginConfiguration()
	if err != nil {
		proxywasm.LogCriticalf("keyplane: no plugin configuration: %v", err)
		return types.OnPluginStartStatusFailed
	}
	cfg, err := verifier.ParseConfig(data)
	if err == nil && (cfg.ControlPlane.Cluster == "" || len(cfg.SigningKeys) == 0) {
		err = errString(`the configuration needs "control_plane" and pinned "signing_keys"`)
	}
	if err != nil {
		proxywasm.LogCriticalf("keyplane: %v", err)
		return types.OnPluginStartStatusFailed
	}
	if p.v, err = verifier.New(cfg, verifier.WithClock(wasiclock.Clock{})); err != nil { // one WASI call a request
		proxywasm.LogCriticalf("keyplane: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.cfg = cfg
	p.rules.Workspace = cfg.ControlPlane.Workspace
	p.trusted = verifier.Trust(nil, cfg.SigningKeys)
	if err := proxywasm.SetTickPeriodMilliSeconds(uint32(cfg.ControlPlane.PollMillis)); err != nil {
		proxywasm.LogCriticalf("keyplane: tick: %v", err)
		return types.OnPluginStartStatusFailed
	}
	p.poll()
	return types.OnPluginStartStatusOK
}

func (p *plugin) OnTick() {
	if !p.inflight {
		p.poll()
	}
}

// poll asks the control plane for a full snapshot (none yet, or told to re-base) or for the delta
// that brings the current state up to date.
func (p *plugin) poll() {
	cp := p.cfg.ControlPlane
	path := "/v1/snapshots/latest"
	if p.cur != nil && !p.rebase {
		path = "/v1/snapshots/delta?" + p.cur.DeltaQuery(int(cp.WaitSeconds))
	}
	if p.call(path, uint32(cp.WaitSeconds*1000+10_000), p.onResponse) {
		p.inflight = true
	}
}

// call dispatches a GET of path (plus workspace_id with the admin token) to the control plane.
func (p *plugin) call(path string, timeoutMillis uint32, done func(numHeaders, bodySize, numTrailers int)) bool {
	cp := p.cfg.ControlPlane
	if cp.Workspace != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "workspace_id=" + cp.Workspace
	}
	authority := cp.Authority
	if authority == "" {
		authority = cp.Cluster
	}
	headers := [][2]string{{":method", "GET"}, {":path", path}, {":authority", authority}, {":scheme", "http"},
		{"authorization", "Bearer " + cp.Token}}
	if _, err := proxywasm.DispatchHttpCall(cp.Cluster, headers, nil, nil, timeoutMillis, done); err != nil {
		proxywasm.LogWarnf("keyplane: dispatch to %s: %v", cp.Cluster, err)
		return false
	}
	return true
}

func (p *plugin) onResponse(_, bodySize, _ int) {
	p.inflight = false
	status := ""
	if hs, err := proxywasm.GetHttpCallResponseHeaders(); err == nil {
		for _, h := range hs {
			if h[0] == ":status" {
				status = h[1]
			}
		}
	}
	switch status {
	case "200":
	case "304":
		p.again()
		return
	case "409": // the base cannot be brought up to date: fetch a full snapshot
		p.rebase = true
		p.poll()
		return
	default:
		proxywasm.LogWarnf("keyplane: control plane answered %q", status)
		return
	}
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		proxywasm.LogWarnf("keyplane: reading the snapshot: %v", err)
		return
	}
	full := p.cur == nil || p.rebase
	if err := p.apply(body, full); err != nil {
		if errors.Is(err, snapshot.ErrUnknownSigningKey) && p.learn(body, full) {
			return
		}
		proxywasm.LogWarnf("keyplane: refused a snapshot: %v", err)
		return
	}
	p.again()
}

// learn fetches the published signing keys to see whether a trusted key endorsed the one that
// signed blob (a rotation), keeping blob to apply once it is trusted.
func (p *plugin) learn(blob []byte, full bool) bool {
	if !p.call("/v1/signing-keys", 10_000, p.onKeys) {
		return false
	}
	p.pending, p.full, p.inflight = blob, full, true
	return true
}

func (p *plugin) onKeys(_, bodySize, _ int) {
	p.inflight = false
	blob, full := p.pending, p.full
	p.pending = nil
	body, err := proxywasm.GetHttpCallResponseBody(0, bodySize)
	if err != nil {
		return
	}
	keys, err := verifier.ParseSigningKeys(body)
	if err != nil {
		proxywasm.LogWarnf("keyplane: signing keys: %v", err)
		return
	}
	doc := trust.Document{}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, trust.SigningKey{ID: k.ID, PublicKey: k.PublicKey, EndorsedBy: k.EndorsedBy, Endorsement: k.Endorsement})
	}
	next, added := trust.Extend(p.trusted, doc)
	if len(added) == 0 {
		proxywasm.LogWarnf("keyplane: the snapshot's signing key is not endorsed by a trusted key")
		return
	}
	p.trusted = next
	proxywasm.LogInfof("keyplane: trusting newly endorsed signing keys %v", added)
	if err := p.apply(blob, full); err != nil {
		proxywasm.LogWarnf("keyplane: refused a snapshot: %v", err)
		return
	}
	p.again()
}

// again keeps a long poll open at all times; with plain polling the next tick asks.
func (p *plugin) again() {
	if p.cfg.ControlPlane.WaitSeconds > 0 {
		p.poll()
	}
}

// apply verifies a blob and makes it current if the rules (rollback, freeze, base) allow.
func (p *plugin) apply(blob []byte, full bool) error {
	now := p.v.Now().Unix()
	if full {
		s, err := snapshot.Open(blob, p.trusted, snapshot.Limits{})
		if err != nil {
			return err
		}
		next, err := p.rules.WithBase(p.cur, s, now)
		if err != nil {
			return err
		}
		p.cur, p.rebase = next, false
		return nil
	}
	d, err := snapshot.OpenDelta(blob, p.trusted, snapshot.Limits{})
	if err != nil {
		return err
	}
	next, err := p.rules.WithDelta(p.cur, d, now)
	if err != nil {
		return err
	}
	p.cur = next
	return nil
}

func (p *plugin) NewHttpContext(uint32) types.HttpContext { return &request{p: p} }

type request struct {
	types.DefaultHttpContext
	p *plugin
}

func (r *request) OnHttpRequestHeaders(int, bool) types.Action {
	p := r.p
	path := header(":path")
	key, _ := p.v.ExtractKey(header(p.v.KeyHeader()), path)
	// Host, Origin, Referer and the source address are read only for keys restricted by them:
	// each read is a call into the proxy.
	req := verifier.Request{Method: header(":method"), Path: path, Key: key, Attributes: proxyAttributes{}}
	keys, exp := p.cur.Check()
	d := p.v.Check(&req, keys, verifier.Freshness{ExpiresAt: exp})
	if !d.Allowed {
		var hs [][2]string
		d.DenialHeaders(func(name, value string) { hs = append(hs, [2]string{name, value}) })
		if err := proxywasm.SendHttpResponse(uint32(d.Status), hs, []byte(d.Body), -1); err != nil {
			proxywasm.LogErrorf("keyplane: local response: %v", err)
		}
		return types.ActionPause
	}
	if d.StripKey {
		if h := p.v.KeyHeader(); h != "" {
			_ = proxywasm.RemoveHttpRequestHeader(h)
		}
		if p.cfg.KeyQuery != "" {
			_ = proxywasm.ReplaceHttpRequestHeader(":path", string(p.v.AppendStrippedTarget(nil, path)))
		}
	}
	// Replace overwrites whatever the client sent; the proxy copies each value before it returns.
	d.IdentityHeadersCopied(&p.idScratch, replaceHeader, removeHeader)
	return types.ActionContinue
}

func replaceHeader(name, value string) { _ = proxywasm.ReplaceHttpRequestHeader(name, value) }
func removeHeader(name string)         { _ = proxywasm.RemoveHttpRequestHeader(name) }

func header(name string) string {
	if name == "" {
		return ""
	}
	v, _ := proxywasm.GetHttpRequestHeader(name)
	return v
}

// proxyAttributes reads the attributes restricted keys need from the proxy, on demand.
type proxyAttributes struct{}

func (proxyAttributes) Host() string         { return header(":authority") }
func (proxyAttributes) Origin() string       { return header("origin") }
func (proxyAttributes) Referer() string      { return header("referer") }
func (proxyAttributes) ClientIP() netip.Addr { return clientIP() }

// clientIP reads Envoy's source.address property ("ip:port").
func clientIP() netip.Addr {
	b, err := proxywasm.GetProperty([]string{"source", "address"})
	if err != nil {
		return netip.Addr{}
	}
	a, _ := verifier.ParseClientAddr(string(b))
	return a
}

type errString string

func (e errString) Error() string { return string(e) }
