//go:build !tinygo.wasm

package abi

// Stubs so that the package compiles for the host, where its tests load the built .wasm files.

func getURI(ptr, limit uint32) uint32                                     { panic("wasm only") }
func getMethod(ptr, limit uint32) uint32                                  { panic("wasm only") }
func getSourceAddr(ptr, limit uint32) uint32                              { panic("wasm only") }
func getHeaderValues(kind, namePtr, nameLen, bufPtr, limit uint32) uint64 { panic("wasm only") }
func setHeaderValue(kind, namePtr, nameLen, valuePtr, valueLen uint32)    { panic("wasm only") }
func removeHeader(kind, namePtr, nameLen uint32)                          { panic("wasm only") }
func writeBody(kind, ptr, size uint32)                                    { panic("wasm only") }
