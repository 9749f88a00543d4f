//go:build wasip1 && !tinygo

package main

import (
	_ "unsafe" // go:linkname
)

// Mainline Go ignores TinyGo's //go:export, so a mainline build re-exports the guest SDK's two
// entry points with //go:wasmexport. It is built with -tags tinygo.wasm (the SDK's host imports)
// and -ldflags=-checklinkname=0 (the entry points are unexported); see scripts/build-wasm.sh.

//go:linkname sdkHandleRequest github.com/http-wasm/http-wasm-guest-tinygo/handler.handleRequest
func sdkHandleRequest() uint64

//go:linkname sdkHandleResponse github.com/http-wasm/http-wasm-guest-tinygo/handler.handleResponse
func sdkHandleResponse(reqCtx uint32, isError uint32)

//go:wasmexport handle_request
func handleRequest() uint64 { return sdkHandleRequest() }

//go:wasmexport handle_response
func handleResponse(reqCtx uint32, isError uint32) { sdkHandleResponse(reqCtx, isError) }
