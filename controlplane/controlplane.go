// Package controlplane runs the keyplane control plane: it opens the store (an embedded SQLite
// file by default, PostgreSQL when given a URL), makes sure a management token exists, and serves
// the REST API of package api.
package controlplane

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keyplane/keyplane/controlplane/api"
	"github.com/keyplane/keyplane/controlplane/publish"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/controlplane/store/sqlstore"
)

// Config configures Run.
type Config struct {
	Addr        string // listen address; 127.0.0.1:8080 by default
	DataDir     string // holds the SQLite file and the generated admin token; ./data by default
	DatabaseURL string // postgres://... selects PostgreSQL; empty means SQLite in DataDir
	AdminToken  string // the management token; generated and kept in DataDir when empty
	// SigningKeysFile is the snapshot signing keyring (DataDir/signing-keys.json by default,
	// created on first start); SigningKey, a base64 Ed25519 seed, replaces it when set.
	SigningKeysFile string
	SigningKey      string
	KeyLimit        int           // default maximum of active keys per workspace
	SnapshotTTL     time.Duration // validity of signed snapshots and deltas (24 h)
	Logger          *slog.Logger  // slog.Default() when nil
	Out             io.Writer     // where the first-start banner goes (os.Stdout when nil)
	Ready           func(addr string)
}

// AdminTokenFile is the name of the generated admin token's file in the data directory.
const AdminTokenFile = "admin-token"

// Run serves until ctx ends, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	url := cfg.DatabaseURL
	if url == "" {
		url = filepath.Join(cfg.DataDir, "keyplane.db")
	}
	st, err := sqlstore.Open(ctx, url)
	if err != nil {
		return err
	}
	defer st.Close()
	token, created, err := adminToken(cfg.AdminToken, cfg.DataDir)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(cfg.Out, "\nkeyplane: generated the admin token (shown once; kept in %s, mode 0600):\n\n    %s\n\n",
			filepath.Join(cfg.DataDir, AdminTokenFile), token)
	}
	keys, err := keyring(cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api.New(api.Config{Store: st, Keyring: keys, AdminToken: token, KeyLimit: cfg.KeyLimit, Logger: cfg.Logger, SnapshotTTL: cfg.SnapshotTTL}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	cfg.Logger.Info("control plane listening", "addr", ln.Addr().String(), "store", st.Dialect())
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// keyring returns the signing keys: a seed from the environment, or the keyring file, created
// with one key on first start.
func keyring(cfg Config) (publish.Keyring, error) {
	if cfg.SigningKey != "" {
		r, err := signing.FromSeed(cfg.SigningKey)
		if err != nil {
			return nil, err
		}
		return signing.Static{R: r}, nil
	}
	path := cfg.SigningKeysFile
	if path == "" {
		path = filepath.Join(cfg.DataDir, SigningKeysFile)
	}
	f, created, err := signing.OpenFile(path, rand.Reader, time.Now())
	if err != nil {
		return nil, fmt.Errorf("signing keys: %w", err)
	}
	if created {
		cfg.Logger.Info("generated a snapshot signing key", "file", path)
	}
	return f, nil
}

// SigningKeysFile is the default name of the signing keyring in the data directory.
const SigningKeysFile = "signing-keys.json"

// adminToken returns the configured token, else the one kept in dir, else a new one written
// there with mode 0600. created says the token is new and must be shown to the operator.
func adminToken(configured, dir string) (token string, created bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	path := filepath.Join(dir, AdminTokenFile)
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) != "" {
		return strings.TrimSpace(string(b)), false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	token = "kpadmin_" + rand.Text() + rand.Text()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		f.Close()
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	return token, true, f.Close()
}
