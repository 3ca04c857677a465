/* Byte-level helpers of godo's compiled hot path.
 *
 * Each one is the C reading of one rule of the pure-Python twin
 * (godo/hotpath/_parse_py.py); the comment names the Python it must agree with.
 * None can fail: a bad byte is a return value, never a read past `end`.
 */
#ifndef GODO_AUDIT_H
#define GODO_AUDIT_H

#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifndef GODO_DEBUG
#define GODO_DEBUG 0
#endif

/* Python's bytes \s, which the pure twin splits on: space and \t\n\v\f\r (so
 * the 0x1c..0x1f separators are ordinary bytes). The only definition here: the
 * scanners below must agree on it, or one stops where another will not move. */
static inline int godo_is_space(unsigned char c) { return c == ' ' || (unsigned)(c - '\t') <= 4; }

/* The first byte in [p, e) that is whitespace, or '=' too when `equals`; e if
 * none. Eight bytes a step: a byte below 0x21 (or an '=') flags its word, and the
 * lowest flag of the borrow trick is exact, so only flagged bytes are looked at. */
static inline const unsigned char *godo_scan(const unsigned char *p, const unsigned char *e,
                                             int equals)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (e - p >= 8) {
        uint64_t x, flags;
        memcpy(&x, p, 8);
        flags = (x - ones * 0x21) & ~x & highs;
        if (equals) {
            uint64_t y = x ^ (ones * '=');
            flags |= (y - ones) & ~y & highs;
        }
        if (flags == 0) {
            p += 8;
            continue;
        }
        p += __builtin_ctzll(flags) >> 3;
        if (godo_is_space(*p) || (equals && *p == '=')) return p;
        p++;  /* a control byte that is not whitespace */
    }
#endif
    while (p < e && !(godo_is_space(*p) || (equals && *p == '='))) p++;
    return p;
}

/* One match of rb"([^\s=]+)=(\S*)", scanning on from *pos: 1 and the key and
 * value, or 0 at the end. Within a whitespace-separated token the regex skips
 * leading '='s, takes the key up to the next '=' and the rest as the value; a
 * token without such an '=' matches nothing. */
static inline int godo_next_kv(const char **pos, const char *end,
                               const char **key, Py_ssize_t *keylen,
                               const char **val, Py_ssize_t *vallen)
{
    const unsigned char *p = (const unsigned char *)*pos;
    const unsigned char *e = (const unsigned char *)end;
    for (;;) {
        while (p < e && godo_is_space(*p)) p++;
        if (p >= e) { *pos = end; return 0; }
        while (p < e && *p == '=') p++;
        const unsigned char *k = p, *q = godo_scan(p, e, 1);
        if (q < e && *q == '=') {
            const unsigned char *v = q + 1, *ve = godo_scan(v, e, 0);
            *key = (const char *)k; *keylen = q - k;
            *val = (const char *)v; *vallen = ve - v;
            *pos = (const char *)ve;
            return 1;
        }
        p = q;  /* a token without '=' after its key */
    }
}

/* The lowest set bit's place in a word that is not 0. */
static inline int godo_ctz(uint64_t w) { return __builtin_ctzll(w); }

#if defined(__SSE2__)
/* Which of the 16 bytes at p are whitespace (godo_is_space), bit i for byte i. */
static inline uint64_t godo_space16(const unsigned char *p)
{
    const __m128i x = _mm_loadu_si128((const __m128i *)p);
    const __m128i t = _mm_sub_epi8(x, _mm_set1_epi8('\t'));  /* \t..\r: 0..4 as unsigned bytes */
    const __m128i ws = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')),
                                    _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(4)), t));
    return (uint16_t)_mm_movemask_epi8(ws);
}
#endif

/* A bitmap of which bytes of [s, s + n) are whitespace (godo_is_space), bit i for
 * byte i, into bits[0 .. (n + 63) / 64); bits past n are 0. With it a record's
 * tokens are found by taking set bits off a word, one after another, instead of
 * testing bytes that each wait for the one before. Reads nothing past s + n. */
static inline void godo_space_bits(const char *s, Py_ssize_t n, uint64_t *bits)
{
    const unsigned char *p = (const unsigned char *)s;
    Py_ssize_t i = 0;
    uint64_t word = 0;
#if defined(__SSE2__)
    for (; n - i >= 64; i += 64)
        bits[i >> 6] = godo_space16(p + i) | godo_space16(p + i + 16) << 16
                       | godo_space16(p + i + 32) << 32 | godo_space16(p + i + 48) << 48;
    if (i < n && n >= 16) {
        /* The last 1..63 bytes, 16 a step: a step short of 16 reads the 16 that end
         * at n (back over some already done) and keeps the bits of the new ones. */
        for (Py_ssize_t j = i; j < n; j += 16) {
            Py_ssize_t at = n - j >= 16 ? j : n - 16;
            word |= godo_space16(p + at) >> (j - at) << (j - i);
        }
        bits[i >> 6] = word;
        return;
    }
#endif
    for (; i < n; i++) {
        word |= (uint64_t)godo_is_space(p[i]) << (i & 63);
        if ((i & 63) == 63 || i + 1 == n) {
            bits[i >> 6] = word;
            word = 0;
        }
    }
}

/* memcpy of a few hundred bytes, n a multiple of 16: GCC makes a fixed-size memcpy
 * of this size a `rep movs`, whose start-up costs more than the copy. */
static inline void godo_copy16(void *dst, const void *src, size_t n)
{
#if defined(__SSE2__)
    for (size_t i = 0; i < n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)((const char *)src + i));
        _mm_storeu_si128((__m128i *)((char *)dst + i), x);
    }
#else
    memcpy(dst, src, n);
#endif
}

/* One expected `key=`, for a record whose keys come in a known order: its bytes as
 * a word (memcpy'd, so it compares the same on every byte order) and a mask of them. */
typedef struct {
    uint64_t word;
    uint64_t mask;
    Py_ssize_t len;  /* with its '=', at most 8 */
    int field;       /* the caller's number for it, -1 for one it does not keep */
} godo_key;

/* Whether the token at p (at least 8 bytes before the end) starts with k's `key=`. */
static inline int godo_key_at(const char *p, const godo_key *k)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return (x & k->mask) == k->word;
}

/* field(): the value of the first `key` at the start or after a space (0x20
 * only), up to the next space; NULL when absent. */
static inline const char *godo_field(const char *s, Py_ssize_t n, const char *key,
                                     Py_ssize_t keylen, Py_ssize_t *vallen)
{
    const char *end = s + n, *hit = NULL;
    Py_ssize_t i = 1;
    if (n >= keylen && memcmp(s, key, keylen) == 0) {
        hit = s;
        goto found;
    }
#if defined(__SSE2__)
    /* 16 places a step where a token starts with key[0] (a space before it): in
     * a PATH record, the few keys starting with that letter, not every one of its
     * bytes, as a memchr for the letter would meet in the name's text. */
    {
        const __m128i space = _mm_set1_epi8(' '), first = _mm_set1_epi8(key[0]);
        for (; i + 16 <= n; i += 16) {
            unsigned m = (unsigned)_mm_movemask_epi8(_mm_and_si128(
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i - 1)), space),
                _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(s + i)), first)));
            while (m) {
                const char *at = s + i + godo_ctz(m);
                m &= m - 1;
                if (end - at >= keylen && memcmp(at, key, keylen) == 0) {
                    hit = at;
                    goto found;
                }
            }
        }
    }
#endif
    for (; i + keylen <= n; i++) {
        if (s[i - 1] == ' ' && s[i] == key[0] && memcmp(s + i, key, keylen) == 0) {
            hit = s + i;
            goto found;
        }
    }
    return NULL;
found:
    {
        const char *v = hit + keylen;
        const char *sp = memchr(v, ' ', end - v);
        *vallen = (sp ? sp : end) - v;
        return v;
    }
}

/* A byte's hex digit value; 0x10 for every byte that is not one. */
static const unsigned char godo_hexdigit[256] = {
#define X16 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10
    X16, X16, X16,
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    0x10, 10, 11, 12, 13, 14, 15, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    X16,
    0x10, 10, 11, 12, 13, 14, 15, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10,
    X16, X16, X16, X16, X16, X16, X16, X16, X16,
#undef X16
};

static inline int godo_hexval(unsigned char c)
{
    return godo_hexdigit[c] < 16 ? godo_hexdigit[c] : -1;
}

/* bytes.fromhex(raw.decode("ascii")): pairs of hex digits, ASCII whitespace
 * allowed before each pair. Returns the length written to dst (room for n/2),
 * or -1 where Python raises (a non-ASCII byte anywhere, or a bad pair). */
static inline Py_ssize_t godo_fromhex(const char *s, Py_ssize_t n, char *dst)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    char *out = dst;
    /* What the kernel writes: nothing but pairs. */
    while (e - p >= 2) {
        unsigned hi = godo_hexdigit[p[0]], lo = godo_hexdigit[p[1]];
        if ((hi | lo) & 0x10) break;
        *out++ = (char)(hi << 4 | lo);
        p += 2;
    }
    if (p == e) return out - dst;
    /* The rest, byte by byte; what was read so far was ASCII hex. */
    for (const unsigned char *q = p; q < e; q++)
        if (*q >= 0x80) return -1;
    while (p < e) {
        if (godo_is_space(*p)) {
            while (p < e && godo_is_space(*p)) p++;
            if (p >= e) break;
        }
        if (e - p < 2) return -1;
        int hi = godo_hexval(p[0]), lo = godo_hexval(p[1]);
        if (hi < 0 || lo < 0) return -1;
        *out++ = (char)(hi << 4 | lo);
        p += 2;
    }
    return out - dst;
}

/* text(): a value as the kernel wrote it, "quoted", bare hex or (null).
 * Returns 0 for None, else 1 with *out and *outn on the text: inside s, or
 * decoded into dst (room for n/2 bytes). Hex that is not hex stays as it is. */
static inline int godo_text(const char *s, Py_ssize_t n, char *dst,
                            const char **out, Py_ssize_t *outn)
{
    if (s == NULL || (n == 6 && memcmp(s, "(null)", 6) == 0)) return 0;
    if (n > 0 && s[0] == '"') {
        *out = s + 1;
        *outn = (n > 1 && s[n - 1] == '"') ? n - 2 : n - 1;
        return 1;
    }
    Py_ssize_t m = godo_fromhex(s, n, dst);
    if (m < 0) { *out = s; *outn = n; }
    else { *out = dst; *outn = m; }
    return 1;
}

/* Whether text() gives None, without decoding. */
static inline int godo_is_none(const char *s, Py_ssize_t n)
{
    return s == NULL || (n == 6 && memcmp(s, "(null)", 6) == 0);
}

/* [0-9]{1,maxdigits}; maxdigits <= 18 cannot overflow an int64. */
static inline int godo_digits(const char *s, Py_ssize_t n, int maxdigits, int64_t *out)
{
    if (n < 1 || n > maxdigits) return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

/* dec(): -?[0-9]{1,19} within int64. */
static inline int godo_dec(const char *s, Py_ssize_t n, int64_t *out)
{
    int neg = n > 0 && s[0] == '-';
    if (n - neg < 1 || n - neg > 19) return -1;
    uint64_t v = 0;  /* 19 digits cannot wrap a uint64 */
    for (Py_ssize_t i = neg; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9) return -1;
        v = v * 10 + d;
    }
    if (v > (uint64_t)INT64_MAX + neg) return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

/* hex_(): [0-9a-fA-F]{1,16}. A bad digit is looked for once, at the end. */
static inline int godo_hex(const char *s, Py_ssize_t n, uint64_t *out)
{
    if (n < 1 || n > 16) return -1;
    uint64_t v = 0;
    unsigned bad = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned d = godo_hexdigit[(unsigned char)s[i]];
        bad |= d;
        v = v << 4 | (d & 0xF);
    }
    if (bad & 0x10) return -1;
    *out = v;
    return 0;
}

/* The OPENAT2 oflag: [0-7]{1,21}. */
static inline int godo_oct(const char *s, Py_ssize_t n, int64_t *out)
{
    if (n < 1 || n > 21) return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 7) return -1;
        v = v << 3 | d;
    }
    *out = v;
    return 0;
}

/* The condition under which normalise() calls posixpath.normpath. */
static inline int godo_needs_normpath(const char *s, Py_ssize_t n)
{
    if (n > 1 && s[n - 1] == '/') return 1;
    for (Py_ssize_t i = 0; i + 1 < n; i++)
        if (s[i] == '/' && (s[i + 1] == '.' || s[i + 1] == '/')) return 1;
    return 0;
}

/* posixpath.normpath(), with its two leading slashes then collapsed to one as
 * normalise() does. On bytes: '/' and '.' decode to themselves whatever
 * surrounds them, so this commutes with the UTF-8 decode. dst has room for n+1. */
static inline Py_ssize_t godo_normpath(const char *s, Py_ssize_t n, char *dst)
{
    if (n == 0) { dst[0] = '.'; return 1; }
    int absolute = s[0] == '/';
    char *out = dst;
    if (absolute) *out++ = '/';
    char *base = out;
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && s[i] == '/') i++;
        if (i >= n) break;
        Py_ssize_t j = i;
        while (j < n && s[j] != '/') j++;
        Py_ssize_t len = j - i;
        const char *comp = s + i;
        i = j;
        if (len == 1 && comp[0] == '.') continue;
        if (len == 2 && comp[0] == '.' && comp[1] == '.') {
            char *last = out;
            while (last > base && last[-1] != '/') last--;
            int last_is_dotdot = out - last == 2 && last[0] == '.' && last[1] == '.';
            if (out == base ? !absolute : last_is_dotdot) {
                /* nothing to go up from (relative), or already going up */
            } else {
                if (out != base) out = last > base ? last - 1 : base;
                continue;
            }
        }
        if (out != base) *out++ = '/';
        memcpy(out, comp, len);
        out += len;
    }
    if (out == dst) { dst[0] = '.'; return 1; }
    return out - dst;
}

#endif /* GODO_AUDIT_H */
