// Package hugepage places large read-mostly buffers (key snapshots) where the kernel can back them
// with 2 MiB pages. A verifier reads one random place of a snapshot per request; at a million keys
// the 19 MB table spans nearly 5,000 pages of 4 KiB, more than a processor's TLB holds, so each
// lookup also walks the page tables, which under a hypervisor costs up to two dozen memory reads.
// On 2 MiB pages the table is ten TLB entries (docs/RATIONALE.md).
package hugepage

// MinLen is the smallest buffer Copy moves: below it the TLB covers the buffer anyway.
const MinLen = 4 << 20

// Size is the page size Copy aligns to.
const Size = 2 << 20
