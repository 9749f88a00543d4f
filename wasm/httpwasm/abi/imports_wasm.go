//go:build tinygo.wasm

package abi

// The http-wasm host functions the guest calls itself (fields.go), and the WASI clock.

//go:wasmimport http_handler get_uri
func getURI(ptr, limit uint32) uint32

//go:wasmimport http_handler get_method
func getMethod(ptr, limit uint32) uint32

//go:wasmimport http_handler get_source_addr
func getSourceAddr(ptr, limit uint32) uint32

//go:wasmimport http_handler get_header_values
func getHeaderValues(kind, namePtr, nameLen, bufPtr, bufLimit uint32) uint64

//go:wasmimport http_handler set_header_value
func setHeaderValue(kind, namePtr, nameLen, valuePtr, valueLen uint32)

//go:wasmimport http_handler remove_header
func removeHeader(kind, namePtr, nameLen uint32)

//go:wasmimport http_handler write_body
func writeBody(kind, ptr, size uint32)
