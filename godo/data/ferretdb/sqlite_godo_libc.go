// godo: memcmp, memcpy and memmove for modernc.org/libc on linux amd64, arm64 and
// loong64, where the module's own are musl's C loops transpiled to Go, a byte at a
// time. build-ferretdb.sh renames those (xmemcmpMusl, ...) and adds this file to a
// copy of the module, which FerretDB is built against. An insert with godo's indexes
// spent ~15% of FerretDB's CPU in memcmp: SQLite's JSON cache compares a document's
// text with the documents it parsed last, and the B-trees compare keys.

package libc

import (
	"bytes"
	"unsafe"
)

// Xmemcmp is C's memcmp: <0, 0 or >0 as the first differing byte (unsigned) is.
func Xmemcmp(tls *TLS, vl uintptr, vr uintptr, n Tsize_t) int32 {
	if n == 0 {
		return 0
	}

	l := unsafe.Slice((*byte)(unsafe.Pointer(vl)), n)
	r := unsafe.Slice((*byte)(unsafe.Pointer(vr)), n)

	return int32(bytes.Compare(l, r))
}

// Xmemcpy is C's memcpy (the areas do not overlap).
func Xmemcpy(tls *TLS, dest uintptr, src uintptr, n Tsize_t) uintptr {
	if n != 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dest)), n), unsafe.Slice((*byte)(unsafe.Pointer(src)), n))
	}

	return dest
}

// Xmemmove is C's memmove: Go's copy handles overlapping areas as memmove does.
func Xmemmove(tls *TLS, dest uintptr, src uintptr, n Tsize_t) uintptr {
	if n != 0 {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(dest)), n), unsafe.Slice((*byte)(unsafe.Pointer(src)), n))
	}

	return dest
}
