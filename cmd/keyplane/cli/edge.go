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
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/verifier"
	"github.com/keyplane/keyplane/verifier/middleware"
	"github.com/keyplane/keyplane/wasm/edgehost"
)

// edge runs a ready edge proxy: the sync agent in-process, the http-wasm verifier module (the
// artifact Traefik loads) or the native verifier, and a reverse proxy to the upstream.
func edge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8081", "address to serve on")
	upstream := fs.String("upstream", "", "URL of the API to protect (required)")
	cp := fs.String("control-plane", envOr("KEYPLANE_URL", "http://127.0.0.1:8080"), "control plane URL")
	token := fs.String("token", os.Getenv("KEYPLANE_SNAPSHOT_TOKEN"), "API key with snapshots:read ($KEYPLANE_SNAPSHOT_TOKEN)")
	wasmFile := fs.String("wasm", "", "http-wasm module to load (default: the embedded one, else the native verifier)")
	native := fs.Bool("native", false, "use the native verifier even when a module is embedded")
	cfgFile := fs.String("config", "", "verifier configuration (JSON, docs/verifier.md); default: any valid key passes")
	stateDir := fs.String("state", "", "where the sync agent keeps the verified state (default: a new temporary directory)")
	keysFile := fs.String("signing-keys", "", "pinned signing keys: the JSON of GET /v1/signing-keys (default: trust on first use)")
	wait := fs.Duration("wait", 30*time.Second, "long-poll wait")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *upstream == "" || *token == "" {
		return usageError("edge needs --upstream URL and --token (or KEYPLANE_SNAPSHOT_TOKEN)")
	}
	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme == "" || up.Host == "" {
		return usageError("--upstream must be a URL such as http://127.0.0.1:9000")
	}
	doc := []byte(`{}`)
	if *cfgFile != "" {
		if doc, err = os.ReadFile(*cfgFile); err != nil {
			return err
		}
	}
	cfg, err := verifier.ParseConfig(doc)
	if err != nil {
		return err
	}
	if *stateDir == "" {
		if *stateDir, err = os.MkdirTemp("", "keyplane-edge-"); err != nil {
			return err
		}
		defer os.RemoveAll(*stateDir)
	}
	if *stateDir, err = filepath.Abs(*stateDir); err != nil {
		return err
	}
	trusted, err := loadTrusted(*keysFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	a, err := agent.New(agent.Config{URL: *cp, Token: *token, Trusted: trusted, StateDir: *stateDir, Wait: *wait, Logger: log})
	if err != nil {
		return err
	}
	go a.Run(ctx)

	proxy := httputil.NewSingleHostReverseProxy(up)
	var h http.Handler
	module, source := embeddedModule, "embedded"
	if *wasmFile != "" {
		if module, err = os.ReadFile(*wasmFile); err != nil {
			return err
		}
		source = *wasmFile
	}
	if len(module) > 0 && !*native {
		guestDoc, err := withSnapshotDir(doc, *stateDir)
		if err != nil {
			return err
		}
		mw, err := edgehost.New(ctx, module, guestDoc, *stateDir)
		if err != nil {
			return err
		}
		defer mw.Close(context.Background())
		h = mw.NewHandler(ctx, proxy)
		log.Info("edge verifier: the http-wasm module through http-wasm-host-go", "module", source, "bytes", len(module))
	} else {
		v, err := verifier.New(cfg)
		if err != nil {
			return err
		}
		h = middleware.NewWithSource(v, middleware.AgentSource{A: a}).Handler(proxy)
		log.Info("edge verifier: native (no wasm module given or embedded)")
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Fprintf(stdout, "keyplane edge on http://%s -> %s (control plane %s)\n", ln.Addr(), up, *cp)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// withSnapshotDir sets snapshot_dir in a verifier document for the guest, which reads the agent's
// directory at the same path.
func withSnapshotDir(doc []byte, dir string) ([]byte, error) {
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		return nil, err
	}
	m["snapshot_dir"] = dir
	return json.Marshal(m)
}
