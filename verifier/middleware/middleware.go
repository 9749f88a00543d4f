// Package middleware protects Go net/http services with keyplane: every request is decided
// locally by the verifier against the state that a sync agent, running in the same process,
// keeps current. No proxy, no round trip per request.
//
//	m, err := middleware.New(middleware.Config{
//		Verifier: cfg,                                   // verifier.ParseConfig(...)
//		Agent:    agent.Config{URL: cp, Token: snapshotKey, StateDir: "/var/lib/keyplane"},
//	})
//	go m.Run(ctx)
//	http.ListenAndServe(addr, m.Handler(mux))
package middleware

import (
	"context"
	"net"
	"net/http"
	"net/netip"

	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/verifier"
)

// Identity headers set on allowed requests. Incoming values are always removed first, so a client
// cannot claim an identity.
const (
	HeaderKeyID     = verifier.HeaderKeyID
	HeaderWorkspace = verifier.HeaderWorkspace
	HeaderScopes    = verifier.HeaderScopes
)

// Config configures New.
type Config struct {
	Verifier verifier.Config
	Agent    agent.Config
	Options  []verifier.Option // e.g. verifier.WithClock in tests
}

// Middleware holds a verifier and the source of its key state.
type Middleware struct {
	v     *verifier.Verifier
	src   verifier.Source
	agent *agent.Agent // nil when built with NewWithSource
}

// New builds a middleware whose state comes from an in-process sync agent; call Run.
func New(cfg Config) (*Middleware, error) {
	v, err := verifier.New(cfg.Verifier, cfg.Options...)
	if err != nil {
		return nil, err
	}
	a, err := agent.New(cfg.Agent)
	if err != nil {
		return nil, err
	}
	return &Middleware{v: v, src: AgentSource{a}, agent: a}, nil
}

// NewWithSource builds a middleware over any source of state.
func NewWithSource(v *verifier.Verifier, src verifier.Source) *Middleware {
	return &Middleware{v: v, src: src}
}

// Run runs the sync agent until ctx ends.
func (m *Middleware) Run(ctx context.Context) error {
	if m.agent == nil {
		<-ctx.Done()
		return nil
	}
	return m.agent.Run(ctx)
}

// Verifier is the middleware's verifier.
func (m *Middleware) Verifier() *verifier.Verifier { return m.v }

// Agent is the in-process sync agent, or nil.
func (m *Middleware) Agent() *agent.Agent { return m.agent }

// AgentSource adapts a sync agent to the verifier's Source.
type AgentSource struct{ A *agent.Agent }

// Current returns the agent's verified state and its freshness.
func (s AgentSource) Current() (verifier.Lookuper, verifier.Freshness) {
	keys, exp := s.A.Current().Check()
	return keys, verifier.Freshness{ExpiresAt: exp}
}

// Handler protects next.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := m.Decide(r)
		if !d.Allowed {
			WriteDenial(w, &d)
			return
		}
		Forward(r, m.v, &d)
		next.ServeHTTP(w, r)
	})
}

// Decide runs the verifier on r.
func (m *Middleware) Decide(r *http.Request) verifier.Decision {
	req := Request(m.v, r)
	return m.v.CheckSource(&req, m.src)
}

// Request describes r to the verifier.
func Request(v *verifier.Verifier, r *http.Request) verifier.Request {
	hv := ""
	if h := v.KeyHeader(); h != "" {
		hv = r.Header.Get(h)
	}
	key, _ := v.ExtractKey(hv, r.URL.RequestURI())
	return verifier.Request{Method: r.Method, Path: r.URL.Path, Host: r.Host, Origin: r.Header.Get("Origin"),
		Referer: r.Header.Get("Referer"), ClientIP: clientIP(r), Key: key}
}

// clientIP is the peer address. Behind a proxy, put the middleware where RemoteAddr is the client
// (or rewrite RemoteAddr from a trusted X-Forwarded-For first): a header is no proof.
func clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// WriteDenial answers a denied request with the control plane's error shape.
func WriteDenial(w http.ResponseWriter, d *verifier.Decision) {
	d.DenialHeaders(w.Header().Set)
	w.WriteHeader(d.Status)
	_, _ = w.Write([]byte(d.Body))
}

// Forward prepares an allowed request for the upstream: identity headers in, the key out.
func Forward(r *http.Request, v *verifier.Verifier, d *verifier.Decision) {
	if d.StripKey {
		if h := v.KeyHeader(); h != "" {
			r.Header.Del(h)
		}
		// Only a configured key_query parameter needs the target rewritten.
		if v.Config().KeyQuery != "" && r.URL.RawQuery != "" {
			stripped := string(v.AppendStrippedTarget(nil, r.URL.RequestURI()))
			if u, err := r.URL.Parse(stripped); err == nil {
				r.URL.RawQuery = u.RawQuery
				r.RequestURI = stripped
			}
		}
	}
	d.IdentityHeaders(r.Header.Set, r.Header.Del)
}
