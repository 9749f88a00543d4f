// Package edgehost loads keyplane's http-wasm module into a Go net/http server through
// http-wasm-host-go on wazero: the same artifact Traefik and Dapr load. `keyplane edge` and the
// module's tests use it.
package edgehost

import (
	"context"
	"fmt"

	"github.com/http-wasm/http-wasm-host-go/handler"
	nethttp "github.com/http-wasm/http-wasm-host-go/handler/nethttp"
	"github.com/tetratelabs/wazero"
)

// New instantiates guest (the .wasm bytes) with config (the verifier's JSON document). The
// directory that `keyplane sync --out` keeps, snapshotDir, is mounted read-only at the same path,
// so config's snapshot_dir names it as it is.
func New(ctx context.Context, guest, config []byte, snapshotDir string) (nethttp.Middleware, error) {
	mc := wazero.NewModuleConfig().
		// c-shared modules (TinyGo's and mainline Go's) initialize in _initialize, not _start.
		WithStartFunctions("_initialize").
		// Real clocks: wazero's default clock is a fixed fake, and keys expire.
		WithSysWalltime().WithSysNanotime().
		WithFSConfig(wazero.NewFSConfig().WithReadOnlyDirMount(snapshotDir, snapshotDir))
	mw, err := nethttp.NewMiddleware(ctx, guest, handler.GuestConfig(config), handler.ModuleConfig(mc))
	if err != nil {
		return nil, fmt.Errorf("edgehost: loading the http-wasm module: %w", err)
	}
	return mw, nil
}
