//go:build !wasip1

package wasiclock

import "time"

// Now is time.Now outside wasm (a proxy-wasm filter compiled natively into the SDK's emulator).
func Now() time.Time { return time.Now() }
