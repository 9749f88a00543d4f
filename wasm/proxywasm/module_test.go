package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/wasm/wasmtest"
)

// TestModule loads the built module (TinyGo and mainline Go) in the proxy-wasm SDK's host
// emulator on wazero, with a real control plane answering the module's dispatched calls.
func TestModule(t *testing.T) {
	for _, m := range wasmtest.Modules(t, "proxywasm") {
		t.Run(m.Name, func(t *testing.T) { testModule(t, m.Bytes) })
	}
}

type env struct {
	t      *testing.T
	cp     *wasmtest.ControlPlane
	host   proxytest.HostEmulator
	served int // callouts answered so far
	tamper bool
}

// serve answers the module's pending dispatched calls from the real control plane.
func (e *env) serve() {
	e.t.Helper()
	calls := e.host.GetCalloutAttributesFromContext(proxytest.PluginContextID)
	for ; e.served < len(calls); e.served++ {
		c := calls[e.served]
		if c.Upstream != "keyplane" {
			e.t.Fatalf("dispatched to %q", c.Upstream)
		}
		req, _ := http.NewRequest(http.MethodGet, e.cp.URL+get(c.Headers, ":path"), nil)
		req.Header.Set("Authorization", get(c.Headers, "authorization"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if e.tamper && len(body) > 0 {
			body[len(body)/2] ^= 1
		}
		e.host.CallOnHttpCallResponse(c.CalloutID, [][2]string{{":status", fmt.Sprint(resp.StatusCode)}}, nil, body)
	}
}

func get(hs [][2]string, name string) string {
	for _, h := range hs {
		if h[0] == name {
			return h[1]
		}
	}
	return ""
}

// call sends one request through the filter and returns its status (200 when it went upstream)
// and the headers the upstream (or the client) got.
func (e *env) call(method, key string, from string, extra ...[2]string) (int, [][2]string) {
	e.t.Helper()
	if err := e.host.SetProperty([]string{"source", "address"}, []byte(from+":40000")); err != nil {
		e.t.Fatal(err)
	}
	id := e.host.InitializeHttpContext()
	defer e.host.CompleteHttpContext(id)
	hs := [][2]string{{":method", method}, {":path", "/events"}, {":authority", "api.example.com"}, {"x-keyplane-key-id", "key_SPOOFED"}}
	for _, h := range extra {
		if h[0] == ":authority" {
			hs[2] = h
		} else {
			hs = append(hs, h)
		}
	}
	if key != "" {
		hs = append(hs, [2]string{"authorization", "Bearer " + key})
	}
	action := e.host.CallOnRequestHeaders(id, hs, false)
	if local := e.host.GetSentLocalResponse(id); local != nil {
		if action != types.ActionPause {
			e.t.Fatalf("a local response without pausing the stream")
		}
		if !strings.Contains(string(local.Data), `"error":{"type":`) {
			e.t.Fatalf("denial body %s", local.Data)
		}
		return int(local.StatusCode), local.Headers
	}
	return 200, e.host.GetCurrentRequestHeaders(id)
}

func testModule(t *testing.T, wasm []byte) {
	vm, err := proxytest.NewWasmVMContext(wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	cp := wasmtest.StartControlPlane(t)
	cfg := fmt.Sprintf(`{%s,"control_plane":{"cluster":"keyplane","authority":"cp","token":%q},"signing_keys":%s}`,
		wasmtest.Policy, cp.SnapshotKey.Key, cp.SigningKeys)
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).WithPluginConfiguration([]byte(cfg)))
	defer reset()
	if st := host.StartPlugin(); st != types.OnPluginStartStatusOK {
		t.Fatalf("plugin start: %v; logs %v", st, host.GetCriticalLogs())
	}
	e := &env{t: t, cp: cp, host: host}
	if code, _ := e.call("GET", cp.Keys["reader"].Key, "10.1.2.3"); code != 503 {
		t.Fatalf("before any snapshot: %d, want 503 (fail-closed)", code)
	}
	e.serve() // the full snapshot the plugin asked for at start

	writer, reader, office := cp.Keys["writer"], cp.Keys["reader"], cp.Keys["office"]
	site := cp.Keys["site"].Key
	for _, tc := range []struct {
		name, method, key, from string
		status                  int
		extra                   [][2]string
	}{
		{"no key", "GET", "", "10.1.2.3", 401, nil},
		{"garbage", "GET", "kp_live_nope", "10.1.2.3", 401, nil},
		{"valid", "POST", writer.Key, "10.1.2.3", 200, nil},
		{"missing scope", "POST", reader.Key, "10.1.2.3", 403, nil},
		{"route without scopes", "GET", reader.Key, "10.1.2.3", 200, nil},
		{"inside the key's CIDR", "POST", office.Key, "10.9.9.9", 200, nil},
		{"outside the key's CIDR", "POST", office.Key, "192.168.1.1", 403, nil},
		{"the key's host, by Origin", "POST", site, "10.1.2.3", 200, [][2]string{{"origin", "https://app.example.com"}}},
		{"another host, by Origin", "POST", site, "10.1.2.3", 403, [][2]string{{"origin", "https://evil.example"}}},
		{"the key's host, by Referer", "POST", site, "10.1.2.3", 200, [][2]string{{"referer", "https://app.example.com/p"}}},
		{"the key's host, by :authority", "POST", site, "10.1.2.3", 200, [][2]string{{":authority", "app.example.com"}}},
		{"another host, by :authority", "POST", site, "10.1.2.3", 403, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			if code, hs := e.call(tc.method, tc.key, tc.from, tc.extra...); code != tc.status {
				t.Fatalf("status %d, want %d (%v)", code, tc.status, hs)
			}
		})
	}
	e.t = t
	code, hs := e.call("POST", writer.Key, "10.1.2.3") // the writer's second request this minute
	if code != 200 || get(hs, "authorization") != "" || get(hs, "x-keyplane-key-id") != writer.ID ||
		get(hs, "x-keyplane-workspace") != cp.Workspace.ID || get(hs, "x-keyplane-scopes") != "events:write" {
		t.Fatalf("upstream headers %v", hs)
	}
	e.call("POST", writer.Key, "10.1.2.3")            // the third: its limit
	code, hs = e.call("POST", writer.Key, "10.1.2.3") // the fourth
	if code != 429 || get(hs, "retry-after") == "" || get(hs, "ratelimit-limit") != "3" {
		t.Fatalf("over the rate limit: %d %v", code, hs)
	}
	if code, hs := e.call("GET", "", "10.1.2.3"); code != 401 || get(hs, "www-authenticate") == "" {
		t.Fatalf("401 without WWW-Authenticate: %v", hs)
	}

	// A revocation arrives by delta on the next tick.
	if _, err := cp.Admin.RevokeKey(context.Background(), reader.ID); err != nil {
		t.Fatal(err)
	}
	host.Tick()
	e.serve()
	if code, _ := e.call("GET", reader.Key, "10.1.2.3"); code != 401 {
		t.Fatalf("revoked key after the delta: %d", code)
	}
	// A tampered delta is refused: the new key stays unknown until an intact one arrives.
	late := cp.Create(t, apiKeyRequest("late"))
	e.tamper = true
	host.Tick()
	e.serve()
	if code, _ := e.call("GET", late.Key, "10.1.2.3"); code != 401 {
		t.Fatalf("a tampered delta was applied: %d", code)
	}
	if len(host.GetWarnLogs()) == 0 {
		t.Fatal("the refusal was not logged")
	}
	e.tamper = false
	host.Tick()
	e.serve()
	if code, _ := e.call("GET", late.Key, "10.1.2.3"); code != 200 {
		t.Fatalf("the intact delta: %d", code)
	}
	// A signing-key rotation: the next delta is signed by a key the module was not given; it
	// trusts it through the old key's endorsement, from GET /v1/signing-keys.
	if err := cp.Ring.Rotate(rand.Reader, time.Now(), 2); err != nil {
		t.Fatal(err)
	}
	after := cp.Create(t, apiKeyRequest("after-rotation"))
	host.Tick()
	e.serve() // the delta, refused for now; the module asks for the signing keys
	e.serve() // the signing keys; the module trusts the endorsed key and applies the delta
	if code, _ := e.call("GET", after.Key, "10.1.2.3"); code != 200 {
		t.Fatalf("after a signing-key rotation: %d; logs %v", code, host.GetWarnLogs())
	}
}

func apiKeyRequest(name string) apiv1.CreateKeyRequest { return apiv1.CreateKeyRequest{Name: name} }
