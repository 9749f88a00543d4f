package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/keyplane/keyplane/controlplane"
	"github.com/keyplane/keyplane/controlplane/signing"
	"github.com/keyplane/keyplane/sync/agent"
	"github.com/keyplane/keyplane/sync/snapshot"
	"github.com/keyplane/keyplane/sync/trust"
)

// syncCmd runs the sync agent, keeping the verified state in --out for wasm guests to read.
func syncCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	url := fs.String("control-plane", envOr("KEYPLANE_URL", "http://127.0.0.1:8080"), "control plane URL")
	token := fs.String("token", os.Getenv("KEYPLANE_SNAPSHOT_TOKEN"), "API key with snapshots:read ($KEYPLANE_SNAPSHOT_TOKEN)")
	out := fs.String("out", "", "directory to keep the verified state in (required)")
	keysFile := fs.String("signing-keys", "", "pinned signing keys: the JSON of GET /v1/signing-keys (default: trust on first use)")
	workspace := fs.String("workspace", "", "workspace id, with the admin token only")
	wait := fs.Duration("wait", 30*time.Second, "long-poll wait")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 || *out == "" || *token == "" {
		return usageError("sync needs --out DIR and --token (or KEYPLANE_SNAPSHOT_TOKEN)")
	}
	trusted, err := loadTrusted(*keysFile)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	a, err := agent.New(agent.Config{URL: *url, Token: *token, Workspace: *workspace, Trusted: trusted, StateDir: *out,
		Wait: *wait, Logger: log, OnUpdate: func(s *agent.State) {
			log.Info("snapshot state updated", "workspace", s.Workspace(), "version", s.Version(), "keys", s.Base.Len())
		}})
	if err != nil {
		return err
	}
	log.Info("sync agent running", "control_plane", *url, "out", *out)
	return a.Run(ctx)
}

func loadTrusted(path string) (snapshot.Trusted, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := trust.Parse(b)
	if err != nil {
		return nil, err
	}
	return trust.All(d), nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// snapshotCmd is for operators: inspect a snapshot or delta file, or verify it against keys.
func snapshotCmd(args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "inspect" && args[0] != "verify") {
		return usageError("snapshot needs a verb: inspect FILE, verify --signing-keys KEYS FILE")
	}
	fs := flag.NewFlagSet("snapshot "+args[0], flag.ContinueOnError)
	keysFile := fs.String("signing-keys", "", "the JSON of GET /v1/signing-keys")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("snapshot %s needs one FILE", args[0])
	}
	blob, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	sum, err := snapshot.Inspect(blob)
	if err != nil {
		return fmt.Errorf("%s: %w", pos[0], err)
	}
	if args[0] == "verify" {
		if *keysFile == "" {
			return usageError("snapshot verify needs --signing-keys KEYS")
		}
		trusted, err := loadTrusted(*keysFile)
		if err != nil {
			return err
		}
		if sum.Delta {
			_, err = snapshot.OpenDelta(blob, trusted, snapshot.Limits{})
		} else {
			_, err = snapshot.Open(blob, trusted, snapshot.Limits{})
		}
		if err != nil {
			return fmt.Errorf("%s: %w", pos[0], err)
		}
	}
	h := sum.Header
	kind := "full snapshot"
	if sum.Delta {
		kind = "delta"
		fmt.Fprintf(out, "revoked:    %d\n", sum.Revoked)
	}
	keys, policies := sum.Keys, sum.Policies
	expires := time.Unix(h.ExpiresAt, 0).UTC()
	fmt.Fprintf(out, "kind:       %s\nworkspace:  %s\nversion:    %d\n", kind, h.Workspace, h.Version)
	if kind == "delta" {
		fmt.Fprintf(out, "base:       %d (%s)\n", h.BaseVersion, hex.EncodeToString(h.BaseDigest[:]))
	}
	fmt.Fprintf(out, "issued:     %s\nexpires:    %s\nsigned by:  %s\nkeys:       %d\npolicies:   %d\nbytes:      %d\n",
		time.Unix(h.IssuedAt, 0).UTC().Format(time.RFC3339), expires.Format(time.RFC3339), h.KeyID, keys, policies, len(blob))
	if args[0] == "verify" {
		if !time.Now().Before(expires) {
			return fmt.Errorf("%s: signature valid, but expired at %s", pos[0], expires.Format(time.RFC3339))
		}
		fmt.Fprintln(out, "verified:   signature by a trusted key, not expired")
	} else {
		fmt.Fprintln(out, "signature:  not checked (use verify --signing-keys)")
	}
	return nil
}

// signingKeysCmd manages the keyring file of a control plane.
func signingKeysCmd(args []string, out io.Writer) error {
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return usageError("signing-keys needs a verb: rotate, list")
	}
	fs := flag.NewFlagSet("signing-keys "+args[0], flag.ContinueOnError)
	data := fs.String("data", "data", "the control plane's data directory")
	file := fs.String("file", os.Getenv("KEYPLANE_SIGNING_KEYS_FILE"), "the keyring file (default DATA/signing-keys.json)")
	keep := fs.Int("keep", 2, "how many keys to keep publishing after a rotation (the new one included)")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	path := *file
	if path == "" {
		path = filepath.Join(*data, controlplane.SigningKeysFile)
	}
	ring, err := signing.Load(path)
	if err != nil {
		return err
	}
	if args[0] == "rotate" {
		if *keep < 2 {
			return usageError("--keep must be at least 2: edges move to the new key through the old one")
		}
		if err := ring.Rotate(rand.Reader, time.Now(), *keep); err != nil {
			return err
		}
		if err := ring.Save(path); err != nil {
			return err
		}
		fmt.Fprintf(out, "new signing key %s; running control planes pick it up within a second\n", ring.Signer().KeyID)
	}
	return printJSON(out, ring.Public())
}
