package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyplane/keyplane/controlplane"
	"github.com/keyplane/keyplane/controlplane/apiv1"
	"github.com/keyplane/keyplane/controlplane/client"
)

// demo runs the whole product in one process for a newcomer (make run): the control plane, a
// demo upstream API, and `keyplane edge` in front of it, then prints what to try.
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	data := fs.String("data", "data", "data directory")
	cpAddr := fs.String("addr", "127.0.0.1:8080", "control plane address")
	edgeAddr := fs.String("edge", "127.0.0.1:8081", "edge address")
	upAddr := fs.String("upstream", "127.0.0.1:9000", "demo upstream address")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	ready := make(chan string, 1)
	go func() {
		errc <- controlplane.Run(ctx, controlplane.Config{Addr: *cpAddr, DataDir: *data, Logger: quiet, Out: stdout,
			AdminToken: os.Getenv("KEYPLANE_ADMIN_TOKEN"), Ready: func(a string) { ready <- a }})
	}()
	var cpURL string
	select {
	case a := <-ready:
		cpURL = "http://" + a
	case err := <-errc:
		return err
	}
	token := os.Getenv("KEYPLANE_ADMIN_TOKEN")
	if token == "" {
		b, err := os.ReadFile(filepath.Join(*data, controlplane.AdminTokenFile))
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	ws, edgeKey, err := demoWorkspace(ctx, client.New(client.Config{BaseURL: cpURL, Token: token}), *data)
	if err != nil {
		return err
	}

	up, err := net.Listen("tcp", *upAddr)
	if err != nil {
		return err
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); upSrv.Close() }()
	go upSrv.Serve(up)

	cfg := filepath.Join(*data, "edge.json")
	if _, err := os.Stat(cfg); errors.Is(err, os.ErrNotExist) {
		os.WriteFile(cfg, []byte(demoPolicy), 0o600)
	}
	go func() {
		errc <- edge(ctx, []string{"--listen", *edgeAddr, "--upstream", "http://" + up.Addr().String(), "--control-plane", cpURL,
			"--token", edgeKey, "--config", cfg, "--state", filepath.Join(*data, "edge-state")}, io.Discard, stderr)
	}()
	fmt.Fprintf(stdout, demoText, cpURL, *data, *edgeAddr, up.Addr(), cfg, cpURL, *data, ws, *edgeAddr, *edgeAddr, ws, *edgeAddr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return nil
	}
}

const demoPolicy = `{
  "routes": [
    {"method": "POST", "path": "/events", "scopes": ["events:write"]},
    {"path": "/", "scopes": []}
  ]
}
`

const demoText = `
keyplane demo is running (Ctrl-C stops it):
  control plane  %s   (data in %s)
  edge           http://%s -> demo upstream http://%s
  edge policy    %s   (POST /events needs events:write)

Try, in another shell:

  export KEYPLANE_URL=%s KEYPLANE_TOKEN=$(cat %s/admin-token)
  KEY=$(bin/keyplane keys create --workspace %s --name alice --scopes events:write --json | sed -n 's/.*"key": "\([^"]*\)".*/\1/p')
  curl -i -X POST http://%s/events -H "Authorization: Bearer $KEY"   # 200: the upstream sees x-keyplane-key-id, not the key
  curl -i http://%s/events                                            # 401 invalid_api_key
  bin/keyplane keys revoke --name alice --workspace %s
  sleep 1; curl -i -X POST http://%s/events -H "Authorization: Bearer $KEY"   # 401: the revocation reached the edge (~0.1 s)

`

// demoWorkspace finds or makes the demo workspace and the edge's snapshot key, whose secret is
// kept in the data directory (the control plane shows a key only once).
func demoWorkspace(ctx context.Context, c *client.Client, data string) (string, string, error) {
	keyFile := filepath.Join(data, "demo-edge-key")
	all, err := c.ListWorkspaces(ctx)
	if err != nil {
		return "", "", err
	}
	for _, w := range all {
		if w.Name == "demo" {
			if b, err := os.ReadFile(keyFile); err == nil {
				return w.ID, strings.TrimSpace(string(b)), nil
			}
			k, err := c.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: w.ID, Name: fmt.Sprint("edge-", time.Now().Unix()), Scopes: []string{"snapshots:read"}})
			if err != nil {
				return "", "", err
			}
			return w.ID, k.Key, os.WriteFile(keyFile, []byte(k.Key+"\n"), 0o600)
		}
	}
	w, err := c.CreateWorkspace(ctx, apiv1.CreateWorkspaceRequest{Name: "demo"})
	if err != nil {
		return "", "", err
	}
	k, err := c.CreateKey(ctx, apiv1.CreateKeyRequest{WorkspaceID: w.ID, Name: "edge", Scopes: []string{"snapshots:read"}})
	if err != nil {
		return "", "", err
	}
	return w.ID, k.Key, os.WriteFile(keyFile, []byte(k.Key+"\n"), 0o600)
}

// echo is the demo upstream: it answers with what it was sent, minus nothing.
func echo(w http.ResponseWriter, r *http.Request) {
	h := map[string]string{}
	for k := range r.Header {
		h[k] = r.Header.Get(k)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"upstream": "demo", "method": r.Method, "path": r.URL.Path, "headers": h})
}
