// Command go-middleware is a small API protected by keyplane without any proxy: the middleware
// verifies each request in-process against a snapshot that its sync agent keeps current.
//
//	KEYPLANE_URL=http://127.0.0.1:8080 KEYPLANE_SNAPSHOT_TOKEN=kp_live_... go run ./examples/go-middleware
//
// POST /events needs the scope events:write; GET /events needs only a valid key.
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/middleware"
)

const policy = `{
  "routes": [
    {"method": "POST", "path": "/events", "scopes": ["events:write"]},
    {"path": "/", "scopes": []}
  ]
}`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:9090"
	}
	h, err := newServer(ctx, os.Getenv("KEYPLANE_URL"), os.Getenv("KEYPLANE_SNAPSHOT_TOKEN"), os.Getenv("KEYPLANE_STATE_DIR"))
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: addr, Handler: h}
	go func() { <-ctx.Done(); srv.Close() }()
	log.Printf("listening on %s", addr)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

// newServer wires the API behind the middleware and starts the sync agent.
func newServer(ctx context.Context, controlPlane, snapshotToken, stateDir string) (http.Handler, error) {
	cfg, err := verifier.ParseConfig([]byte(policy))
	if err != nil {
		return nil, err
	}
	m, err := middleware.New(middleware.Config{Verifier: cfg,
		Agent: agent.Config{URL: controlPlane, Token: snapshotToken, StateDir: stateDir}})
	if err != nil {
		return nil, err
	}
	go m.Run(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		// The middleware has checked the key; the identity headers say whose it is.
		json.NewEncoder(w).Encode(map[string]string{
			"method":    r.Method,
			"key_id":    r.Header.Get(middleware.HeaderKeyID),
			"workspace": r.Header.Get(middleware.HeaderWorkspace),
		})
	})
	return m.Handler(mux), nil
}
