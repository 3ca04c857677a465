# Thin declarations of godo_audit.h: byte helpers that cannot fail.

from libc.stdint cimport int64_t, uint64_t


cdef extern from "godo_audit.h" nogil:
    const int GODO_DEBUG

    ctypedef struct godo_key:
        uint64_t word
        uint64_t mask
        Py_ssize_t len
        int field

    int godo_next_kv(const char** pos, const char* end, const char** key, Py_ssize_t* keylen,
                     const char** val, Py_ssize_t* vallen)
    void godo_space_bits(const char* s, Py_ssize_t n, uint64_t* bits)
    int godo_ctz(uint64_t w)
    void godo_copy16(void* dst, const void* src, size_t n)
    int godo_key_at(const char* p, const godo_key* k)
    const char* godo_field(const char* s, Py_ssize_t n, const char* key, Py_ssize_t keylen,
                           Py_ssize_t* vallen)
    Py_ssize_t godo_fromhex(const char* s, Py_ssize_t n, char* dst)
    int godo_text(const char* s, Py_ssize_t n, char* dst, const char** out, Py_ssize_t* outn)
    int godo_is_none(const char* s, Py_ssize_t n)
    int godo_digits(const char* s, Py_ssize_t n, int maxdigits, int64_t* out)
    int godo_dec(const char* s, Py_ssize_t n, int64_t* out)
    int godo_hex(const char* s, Py_ssize_t n, uint64_t* out)
    int godo_oct(const char* s, Py_ssize_t n, int64_t* out)
    int godo_needs_normpath(const char* s, Py_ssize_t n)
    Py_ssize_t godo_normpath(const char* s, Py_ssize_t n, char* dst)
