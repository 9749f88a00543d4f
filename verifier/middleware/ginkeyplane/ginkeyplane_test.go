package ginkeyplane_test

import (
	"crypto/rand"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/apikey"
	"github.com/keyplane/keyplane/verifier/middleware"
	"github.com/keyplane/keyplane/verifier/middleware/ginkeyplane"
)

type static struct{ s *snapshot.Snapshot }

func (s static) Current() (verifier.Lookuper, verifier.Freshness) { return s.s, verifier.Freshness{} }

func TestGin(t *testing.T) {
	key, _ := apikey.Generate("kp", "live", rand.Reader)
	var seed [32]byte
	signer := snapshot.Signer{KeyID: "k", Private: ed25519Key(seed)}
	blob, err := snapshot.BuildFull(snapshot.Header{Workspace: "ws_1", Version: 1, IssuedAt: time.Now().Unix(),
		ExpiresAt: time.Now().Add(time.Hour).Unix(), KeyID: "k"},
		[]snapshot.Key{{Hash: apikey.Hash(key), Policy: snapshot.Policy{Scopes: []string{"events:read"}, Environment: "live", Type: "GENERIC"}}}, signer)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := snapshot.Open(blob, snapshot.Trusted{"k": signer.Private.Public().(publicKey)}, snapshot.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := verifier.ParseConfig([]byte(`{"routes":[{"method":"POST","path":"/events","scopes":["events:write"]}]}`))
	v, err := verifier.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(ginkeyplane.Handler(middleware.NewWithSource(v, static{snap})))
	r.Any("/events", func(c *gin.Context) { c.String(200, c.GetHeader(middleware.HeaderKeyID)) })
	for _, tc := range []struct {
		name, method, key string
		status            int
	}{
		{"no key", "GET", "", 401},
		{"valid", "GET", key, 200},
		{"missing scope", "POST", key, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/events", nil)
			if tc.key != "" {
				req.Header.Set("Authorization", "Bearer "+tc.key)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tc.status {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if tc.status == 200 && w.Body.String() != apikey.ID(apikey.Hash(key)) {
				t.Fatalf("handler saw key id %q", w.Body)
			}
		})
	}
}
