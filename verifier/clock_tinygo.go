//go:build tinygo

package verifier

import "time"

// systemClock is time.Now in TinyGo builds: the wasm modules inject a clock that reads the host's
// once (wasm/wasiclock), and the monotonic-clock arithmetic of the Go build's
// systemClock (clock.go) would add about 20 KB to a module for nothing.
type systemClock struct{}

func newSystemClock() *systemClock { return &systemClock{} }

func (*systemClock) unixNano() int64 { return time.Now().UnixNano() }

func (*systemClock) Now() time.Time { return time.Now() }
