// Package hugepage loads large read-mostly buffers (key snapshots) into memory the kernel backs
// with huge pages (2 MiB on x86-64). A verifier reads one random place of a snapshot per request;
// at a million keys the 19 MB table spans nearly 5,000 pages of 4 KiB, more than a processor's TLB
// holds, so each lookup also walks the page tables, which under a hypervisor costs up to two dozen
// memory reads. On huge pages the table is ten TLB entries (docs/RATIONALE.md).
package hugepage

// MinLen is the smallest buffer Load moves: below it the TLB covers the buffer anyway.
const MinLen = 4 << 20
