// Package cli implements the keyplane command line: `serve` and the management verbs, which talk
// to a control plane through controlplane/client with KEYPLANE_URL and KEYPLANE_TOKEN.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/keyplane/keyplane/controlplane/client"
)

const usage = `keyplane: API keys for HTTP APIs, verified at the edge.

Usage:
  keyplane demo [--data ./data]          the control plane, an edge and a demo upstream in one (make run)
  keyplane serve [--addr 127.0.0.1:8080] [--data ./data] [--database-url postgres://...]
  keyplane workspaces create --name NAME [--key-prefix kp] [--key-limit 1000]
  keyplane workspaces list | get ID
  keyplane keys create --name NAME [--workspace ID] [--scopes a:b,c:d] [--type GENERIC] [--env live]
                       [--expires-in 720h | --expires-at RFC3339] [--rate-limit 100/60s]
  keyplane keys list [--workspace ID] [--type T] [--env E] [--name N] [--all]
  keyplane keys get ID
  keyplane keys update ID [--name N] [--scopes a:b] [--enable | --disable] [--expires-at T | --no-expiry]
  keyplane keys revoke ID | --name NAME [--workspace ID]
  keyplane keys rotate ID [--grace 24h]
  keyplane keys verify KEY [--scopes a:b,c:d]
  keyplane edge --upstream URL --control-plane URL --token SNAPSHOT_TOKEN [--listen 127.0.0.1:8081]
                [--wasm FILE | --native] [--config FILE] [--state DIR] [--signing-keys KEYS]
  keyplane sync --control-plane URL --token SNAPSHOT_TOKEN --out DIR [--signing-keys KEYS]
  keyplane snapshot inspect FILE | verify --signing-keys KEYS FILE
  keyplane signing-keys rotate [--data DIR | --file FILE] [--keep 2] | list

The management verbs read KEYPLANE_URL (default http://127.0.0.1:8080) and KEYPLANE_TOKEN
(the admin token, or an API key with keys:manage). Add --json for machine-readable output.
`

// Main runs the command line until it is done or interrupted, and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdout, stderr)
}

// MainContext is Main with the lifetime of long-running commands (serve, sync) given by ctx.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return 0
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "workspaces":
		err = workspaces(args[1:], stdout)
	case "keys":
		err = keys(args[1:], stdout)
	case "demo":
		err = demo(ctx, args[1:], stdout, stderr)
	case "edge":
		err = edge(ctx, args[1:], stdout, stderr)
	case "sync":
		err = syncCmd(ctx, args[1:], stderr)
	case "snapshot":
		err = snapshotCmd(args[1:], stdout)
	case "signing-keys":
		err = signingKeysCmd(args[1:], stdout)
	default:
		err = usageError("unknown command %q", args[0])
	}
	var ue *usageErr
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "keyplane: %v\n\n%s", err, usage)
		return 2
	}
	fmt.Fprintf(stderr, "keyplane: %v\n", err)
	return 1
}

type usageErr struct{ msg string }

func (e *usageErr) Error() string { return e.msg }

func usageError(format string, a ...any) error { return &usageErr{fmt.Sprintf(format, a...)} }

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// remote returns a client for KEYPLANE_URL with KEYPLANE_TOKEN.
func remote() (*client.Client, error) {
	url := os.Getenv("KEYPLANE_URL")
	if url == "" {
		url = "http://127.0.0.1:8080"
	}
	token := os.Getenv("KEYPLANE_TOKEN")
	if token == "" {
		return nil, errors.New("KEYPLANE_TOKEN is not set: use the admin token (data/admin-token) or an API key with keys:manage")
	}
	return client.New(client.Config{BaseURL: url, Token: token}), nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func splitList(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
