package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/keyplane/keyplane/controlplane"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	data := fs.String("data", "data", "data directory: the SQLite file and the generated admin token")
	dbURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "PostgreSQL URL (default $DATABASE_URL); empty means embedded SQLite")
	keyLimit := fs.Int("key-limit", 1000, "default maximum of active keys per workspace")
	ttl := fs.Duration("snapshot-ttl", 24*time.Hour, "how long signed snapshots and deltas stay valid at the edges")
	signingKeys := fs.String("signing-keys", os.Getenv("KEYPLANE_SIGNING_KEYS_FILE"), "snapshot signing keyring (default DATA/signing-keys.json; $KEYPLANE_SIGNING_KEYS_FILE)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError("serve takes no arguments")
	}
	token := os.Getenv("KEYPLANE_ADMIN_TOKEN")
	tokenRef := "$(cat " + filepath.Join(*data, controlplane.AdminTokenFile) + ")"
	if token != "" {
		tokenRef = "$KEYPLANE_ADMIN_TOKEN"
	}
	return controlplane.Run(ctx, controlplane.Config{
		Addr: *addr, DataDir: *data, DatabaseURL: *dbURL, AdminToken: token, KeyLimit: *keyLimit,
		SigningKeysFile: *signingKeys, SnapshotTTL: *ttl, SigningKey: os.Getenv("KEYPLANE_SIGNING_KEY"),
		Logger: slog.New(slog.NewTextHandler(stderr, nil)), Out: stdout,
		Ready: func(addr string) { fmt.Fprintf(stdout, quickstart, addr, tokenRef) },
	})
}

const quickstart = `
keyplane control plane ready. Try, in another shell:

  export KEYPLANE_URL=http://%s KEYPLANE_TOKEN=%s
  curl -s -X POST $KEYPLANE_URL/v1/workspaces -H "Authorization: Bearer $KEYPLANE_TOKEN" -d '{"name":"demo"}'
  bin/keyplane workspaces list
  bin/keyplane keys create --workspace <workspace id> --name first --scopes events:write
  curl -s $KEYPLANE_URL/v1/auth/verify -H "Authorization: Bearer <the key printed above>"

`
