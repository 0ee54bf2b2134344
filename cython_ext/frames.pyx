# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Fused, GIL-free frame kernel: luminance, exposure, sharpness, noise, colour and thumbnail in one pass."""

from libc.math cimport floor, log, sqrt
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy, memset

import numpy as np

# The row loops live in C so GCC can clone them for AVX2 and pick the clone at load time (ifunc):
# the default `pip install .` build then vectorises without anyone setting -march.
cdef extern from *:
    """
    #include <stdint.h>
    #include <stdlib.h>
    #if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
    #define WK_DISPATCH __attribute__((target_clones("avx2", "default")))
    #else
    #define WK_DISPATCH
    #endif
    #if defined(__GNUC__) && defined(__x86_64__)
    #define WK_X86 1
    #else
    #define WK_X86 0
    #endif

    /* Indices are ptrdiff_t: CPython builds with -fwrapv, under which int indices block vectorising. */

    /* OpenCV's BGR2GRAY for 8-bit: 15-bit fixed-point coefficients, round half up. */
    WK_DISPATCH static void wk_gray_row(const uint8_t *restrict bgr, uint8_t *restrict gray, ptrdiff_t w) {
        for (ptrdiff_t x = 0; x < w; x++) {
            uint32_t b = bgr[3*x], g = bgr[3*x+1], r = bgr[3*x+2];
            gray[x] = (uint8_t)((b * 3735u + g * 19235u + r * 9798u + 16384u) >> 15);
        }
    }

    /* Sums of g and g*g and the counts below `dark` and at or above `bright` on one gray row. */
    WK_DISPATCH static void wk_lum_row(const uint8_t *restrict g, ptrdiff_t w, uint32_t dark, uint32_t bright,
                                       int64_t *s1, int64_t *s2, int64_t *under, int64_t *over) {
        uint32_t a1 = 0, a2 = 0, u = 0, o = 0;
        for (ptrdiff_t x = 0; x < w; x++) {
            uint32_t v = g[x];
            a1 += v; a2 += v * v; u += v < dark; o += v >= bright;
        }
        *s1 += a1; *s2 += a2; *under += u; *over += o;
    }

    WK_DISPATCH static void wk_colsum_row(const uint8_t *restrict row, uint16_t *restrict acc, ptrdiff_t n) {
        for (ptrdiff_t i = 0; i < n; i++) acc[i] += row[i];
    }

    /* One thumbnail row from 8 rows of column sums, rounded like cvRound (ties to even) as
       INTER_AREA's integer-scale path does; every sum also goes to the channel totals. */
    static void wk_thumb_row(const uint16_t *restrict acc, uint8_t *restrict out, ptrdiff_t tw,
                             ptrdiff_t ch, ptrdiff_t n, int64_t *restrict chan) {
        int64_t t0 = 0, t1 = 0, t2 = 0;
        for (ptrdiff_t tx = 0; tx < tw; tx++) {
            const uint16_t *b = acc + tx * 8 * ch;
            uint32_t sums[3] = {0, 0, 0};
            if (ch == 3) {
                for (int k = 0; k < 8; k++) { sums[0] += b[3*k]; sums[1] += b[3*k+1]; sums[2] += b[3*k+2]; }
            } else {
                for (int k = 0; k < 8; k++) sums[0] += b[k];
            }
            t0 += sums[0]; t1 += sums[1]; t2 += sums[2];
            if (out) {
                for (ptrdiff_t c = 0; c < ch; c++) {
                    /* Branch-free half-to-even: on noisy frames the branch mispredicts half the time. */
                    uint32_t q = sums[c] >> 6, r = sums[c] & 63;
                    out[tx * ch + c] = (uint8_t)(q + ((r + (q & 1)) > 32));
                }
            }
        }
        chan[0] += t0; chan[1] += t1; chan[2] += t2;
        for (ptrdiff_t i = tw * 8 * ch; i < n; i++) chan[i % ch] += acc[i];
    }

    /* Laplacian (4-neighbour) and Immerkaer (outer product of [1,-2,1]) on the middle of three rows;
       `a` is scratch for the vertical second difference. Chunks keep the int32 sums from overflowing. */
    /* `cells[(x - 1) / 8]` gathers l^2 of the row's pixels per cell (the blur check reads it), and
       `dirs[k * stride + (x - 1) / 8]` the squared second difference along direction k: horizontal,
       vertical, down-right and down-left diagonal (motion blur keeps the edges along its path sharp,
       so only the direction across them tells it). */
    WK_DISPATCH static void wk_stencil_row(const uint8_t *restrict u, const uint8_t *restrict c,
                                           const uint8_t *restrict d, int16_t *restrict a, ptrdiff_t w,
                                           int64_t *sum_l, int64_t *sum_l2, int64_t *sum_n,
                                           uint32_t *restrict cells, uint32_t *restrict dirs, ptrdiff_t stride) {
        for (ptrdiff_t x = 0; x < w; x++)
            a[x] = (int16_t)((int)u[x] + (int)d[x] - 2 * (int)c[x]);
        for (ptrdiff_t start = 1; start < w - 1; start += 2000) {
            ptrdiff_t end = start + 2000 < w - 1 ? start + 2000 : w - 1;
            int32_t sl = 0, sl2 = 0, sn = 0;
            for (ptrdiff_t x = start; x < end; x++) {
                int l = a[x] + (int)c[x-1] + (int)c[x+1] - 2 * (int)c[x];
                int nn = a[x-1] + a[x+1] - 2 * a[x];
                int h2 = (int)c[x-1] + (int)c[x+1] - 2 * (int)c[x];
                int d1 = (int)u[x-1] + (int)d[x+1] - 2 * (int)c[x];
                int d2 = (int)u[x+1] + (int)d[x-1] - 2 * (int)c[x];
                ptrdiff_t cell = (x - 1) >> 3;
                sl += l; sl2 += l * l; sn += nn < 0 ? -nn : nn;
                cells[cell] += (uint32_t)(l * l);
                dirs[cell] += (uint32_t)(h2 * h2);
                dirs[stride + cell] += (uint32_t)(a[x] * a[x]);
                dirs[2 * stride + cell] += (uint32_t)(d1 * d1);
                dirs[3 * stride + cell] += (uint32_t)(d2 * d2);
            }
            *sum_l += sl; *sum_l2 += sl2; *sum_n += sn;
        }
    }

    WK_DISPATCH static int64_t wk_absdiff_row(const uint8_t *restrict p, const uint8_t *restrict q, ptrdiff_t n) {
        uint32_t s = 0;
        for (ptrdiff_t i = 0; i < n; i++) s += p[i] > q[i] ? p[i] - q[i] : q[i] - p[i];
        return s;
    }

    /* Hand-vectorised AVX2 paths for the two heaviest loops, picked at import by wk_init(). */
    #if WK_X86
    #include <immintrin.h>

    static inline int64_t wk_hsum_epi32(__m256i v) __attribute__((target("avx2")));
    static inline int64_t wk_hsum_epi32(__m256i v) {
        __m256i wide = _mm256_add_epi64(_mm256_cvtepi32_epi64(_mm256_castsi256_si128(v)),
                                        _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1)));
        __m128i half = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
        return _mm_cvtsi128_si64(half) + _mm_extract_epi64(half, 1);
    }

    /* 8 pixels: lane k holds pixels 4k..4k+3 from one 16-byte load each; returns 8 int32 grays. */
    __attribute__((target("avx2")))
    static inline __m256i wk_gray8(const uint8_t *p) {
        const __m256i shuf_bg = _mm256_setr_epi8(0,-1,1,-1, 3,-1,4,-1, 6,-1,7,-1, 9,-1,10,-1,
                                                 0,-1,1,-1, 3,-1,4,-1, 6,-1,7,-1, 9,-1,10,-1);
        const __m256i shuf_r = _mm256_setr_epi8(2,-1,-1,-1, 5,-1,-1,-1, 8,-1,-1,-1, 11,-1,-1,-1,
                                                2,-1,-1,-1, 5,-1,-1,-1, 8,-1,-1,-1, 11,-1,-1,-1);
        const __m256i k_bg = _mm256_set1_epi32((19235 << 16) | 3735);
        const __m256i k_r1 = _mm256_set1_epi32((16384 << 16) | 9798);
        const __m256i one_hi = _mm256_set1_epi32(1 << 16);
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)p)),
                                            _mm_loadu_si128((const __m128i *)(p + 12)), 1);
        __m256i bg = _mm256_shuffle_epi8(v, shuf_bg);
        __m256i r1 = _mm256_or_si256(_mm256_shuffle_epi8(v, shuf_r), one_hi);
        return _mm256_srli_epi32(_mm256_add_epi32(_mm256_madd_epi16(bg, k_bg), _mm256_madd_epi16(r1, k_r1)), 15);
    }

    __attribute__((target("avx2")))
    static void wk_gray_lum_avx2(const uint8_t *restrict bgr, uint8_t *restrict gray, uint16_t *restrict acc,
                                 ptrdiff_t w, uint32_t dark, uint32_t bright,
                                 int64_t *s1, int64_t *s2, int64_t *under, int64_t *over) {
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256i dark16 = _mm256_set1_epi16((short)dark);
        const __m256i bright16 = _mm256_set1_epi16((short)bright - 1);
        __m256i a1 = _mm256_setzero_si256(), a2 = a1, cu = a1, co = a1;
        ptrdiff_t x = 0;
        /* The second load of the last group reads 4 bytes past pixel x+15: stop 2 pixels early. */
        for (; x + 18 <= w; x += 16) {
            const uint8_t *p = bgr + 3 * x;
            __m256i g16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(wk_gray8(p), wk_gray8(p + 24)), 0xD8);
            __m256i g8 = _mm256_permute4x64_epi64(_mm256_packus_epi16(g16, g16), 0x08);
            _mm_storeu_si128((__m128i *)(gray + x), _mm256_castsi256_si128(g8));
            /* The thumbnail's column sums, while these 48 bytes are at hand. */
            for (int k = 0; k < 3; k++) {
                __m256i *q = (__m256i *)(acc + 3 * x + 16 * k);
                __m256i bytes = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + 16 * k)));
                _mm256_storeu_si256(q, _mm256_add_epi16(_mm256_loadu_si256(q), bytes));
            }
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(g16, ones));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(g16, g16));
            cu = _mm256_sub_epi16(cu, _mm256_cmpgt_epi16(dark16, g16));
            co = _mm256_sub_epi16(co, _mm256_cmpgt_epi16(g16, bright16));
        }
        *s1 += wk_hsum_epi32(a1); *s2 += wk_hsum_epi32(a2);
        *under += wk_hsum_epi32(_mm256_madd_epi16(cu, ones));
        *over += wk_hsum_epi32(_mm256_madd_epi16(co, ones));
        for (ptrdiff_t i = 3 * x; i < 3 * w; i++) acc[i] += bgr[i];
        for (; x < w; x++) {
            uint32_t b = bgr[3*x], g = bgr[3*x+1], r = bgr[3*x+2];
            uint32_t v = (b * 3735u + g * 19235u + r * 9798u + 16384u) >> 15;
            gray[x] = (uint8_t)v;
            *s1 += v; *s2 += v * v; *under += v < dark; *over += v >= bright;
        }
    }

    /* As wk_stencil_row, but l^2 goes to `lanes` (8 int32 per 16 pixels: lanes 0-3 are the cell
       2j, 4-7 the cell 2j + 1), folded into cells once per cell row by wk_fold_lanes; the scalar
       tail goes to `cells` directly. */
    /* The directions' squares go to `dlanes` per cell: 8 int32 per 16 pixels, the cell 2j's four
       directions then the cell 2j + 1's, folded by wk_fold_directions. */

    __attribute__((target("avx2")))
    static void wk_stencil_avx2(const uint8_t *restrict u, const uint8_t *restrict c,
                                const uint8_t *restrict d, int16_t *restrict a, ptrdiff_t w,
                                int64_t *sum_l, int64_t *sum_l2, int64_t *sum_n,
                                uint32_t *restrict cells, int32_t *restrict lanes,
                                uint32_t *restrict dirs, ptrdiff_t stride,
                                int32_t *restrict dlanes) {
        const __m256i ones = _mm256_set1_epi16(1);
        ptrdiff_t x = 0;
        for (; x + 16 <= w; x += 16) {
            __m256i uu = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(u + x)));
            __m256i dd = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(d + x)));
            __m256i cc = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + x)));
            _mm256_storeu_si256((__m256i *)(a + x), _mm256_sub_epi16(_mm256_add_epi16(uu, dd), _mm256_slli_epi16(cc, 1)));
        }
        for (; x < w; x++) a[x] = (int16_t)((int)u[x] + (int)d[x] - 2 * (int)c[x]);
        /* Per lane at most 2 * 1020^2 per step and w / 16 steps: int32 holds rows up to 8192. */
        __m256i al = _mm256_setzero_si256(), al2 = al, an = al;
        for (x = 1; x + 17 <= w; x += 16) {
            __m256i cm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + x - 1)));
            __m256i c0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + x)));
            __m256i cp = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + x + 1)));
            __m256i am = _mm256_loadu_si256((const __m256i *)(a + x - 1));
            __m256i a0 = _mm256_loadu_si256((const __m256i *)(a + x));
            __m256i ap = _mm256_loadu_si256((const __m256i *)(a + x + 1));
            __m256i l = _mm256_sub_epi16(_mm256_add_epi16(a0, _mm256_add_epi16(cm, cp)), _mm256_slli_epi16(c0, 1));
            __m256i n = _mm256_sub_epi16(_mm256_add_epi16(am, ap), _mm256_slli_epi16(a0, 1));
            __m256i l2 = _mm256_madd_epi16(l, l);
            __m256i *lane = (__m256i *)(lanes + ((x - 1) >> 1));
            al = _mm256_add_epi32(al, _mm256_madd_epi16(l, ones));
            al2 = _mm256_add_epi32(al2, l2);
            _mm256_storeu_si256(lane, _mm256_add_epi32(_mm256_loadu_si256(lane), l2));
            an = _mm256_add_epi32(an, _mm256_madd_epi16(_mm256_abs_epi16(n), ones));
            __m256i c2 = _mm256_slli_epi16(c0, 1);
            __m256i um = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(u + x - 1)));
            __m256i up = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(u + x + 1)));
            __m256i dm = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(d + x - 1)));
            __m256i dp = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(d + x + 1)));
            /* The four directions' squares summed per cell in registers (three horizontal adds, each
               within a 128-bit half = one cell), so one load-add-store serves all four. */
            __m256i hs = _mm256_sub_epi16(_mm256_add_epi16(cm, cp), c2);
            __m256i d1 = _mm256_sub_epi16(_mm256_add_epi16(um, dp), c2);
            __m256i d2 = _mm256_sub_epi16(_mm256_add_epi16(up, dm), c2);
            __m256i hv = _mm256_hadd_epi32(_mm256_madd_epi16(hs, hs), _mm256_madd_epi16(a0, a0));
            __m256i dg = _mm256_hadd_epi32(_mm256_madd_epi16(d1, d1), _mm256_madd_epi16(d2, d2));
            __m256i *dl = (__m256i *)(dlanes + ((x - 1) >> 1));
            _mm256_storeu_si256(dl, _mm256_add_epi32(_mm256_loadu_si256(dl), _mm256_hadd_epi32(hv, dg)));
        }
        int64_t sl = wk_hsum_epi32(al), sl2 = wk_hsum_epi32(al2), sn = wk_hsum_epi32(an);
        for (; x < w - 1; x++) {
            int l = a[x] + (int)c[x-1] + (int)c[x+1] - 2 * (int)c[x];
            int nn = a[x-1] + a[x+1] - 2 * a[x];
            int h2 = (int)c[x-1] + (int)c[x+1] - 2 * (int)c[x];
            int d1 = (int)u[x-1] + (int)d[x+1] - 2 * (int)c[x];
            int d2 = (int)u[x+1] + (int)d[x-1] - 2 * (int)c[x];
            ptrdiff_t cell = (x - 1) >> 3;
            sl += l; sl2 += (int64_t)l * l; sn += nn < 0 ? -nn : nn;
            cells[cell] += (uint32_t)(l * l);
            dirs[cell] += (uint32_t)(h2 * h2);
            dirs[stride + cell] += (uint32_t)(a[x] * a[x]);
            dirs[2 * stride + cell] += (uint32_t)(d1 * d1);
            dirs[3 * stride + cell] += (uint32_t)(d2 * d2);
        }
        *sum_l += sl; *sum_l2 += sl2; *sum_n += sn;
    }
    #endif

    static int wk_simd = 0;

    /* Use the AVX2 paths when the CPU has them; returns whether it does. */
    static int wk_set_simd(int wanted) {
    #if WK_X86
        __builtin_cpu_init();
        wk_simd = wanted && __builtin_cpu_supports("avx2");
    #else
        wk_simd = 0;
    #endif
        return wk_simd;
    }

    /* Gray, luminance sums and the thumbnail's column sums of one BGR row. */
    static void wk_gray_lum(const uint8_t *bgr, uint8_t *gray, uint16_t *acc, ptrdiff_t w, uint32_t dark,
                            uint32_t bright, int64_t *s1, int64_t *s2, int64_t *under, int64_t *over) {
    #if WK_X86
        if (wk_simd) { wk_gray_lum_avx2(bgr, gray, acc, w, dark, bright, s1, s2, under, over); return; }
    #endif
        wk_gray_row(bgr, gray, w);
        wk_lum_row(gray, w, dark, bright, s1, s2, under, over);
        wk_colsum_row(bgr, acc, 3 * w);
    }

    static void wk_stencil(const uint8_t *u, const uint8_t *c, const uint8_t *d, int16_t *a, ptrdiff_t w,
                           int64_t *sum_l, int64_t *sum_l2, int64_t *sum_n, uint32_t *cells, int32_t *lanes,
                           uint32_t *dirs, ptrdiff_t stride, int32_t *dlanes) {
    #if WK_X86
        if (wk_simd) {
            wk_stencil_avx2(u, c, d, a, w, sum_l, sum_l2, sum_n, cells, lanes, dirs, stride, dlanes);
            return;
        }
    #endif
        wk_stencil_row(u, c, d, a, w, sum_l, sum_l2, sum_n, cells, dirs, stride);
    }

    /* Fold the AVX2 direction sums (4 directions of 2 cells per 8 int32) into `dirs` and clear them. */
    static void wk_fold_directions(int32_t *dlanes, uint32_t *dirs, ptrdiff_t stride, ptrdiff_t groups) {
        for (ptrdiff_t j = 0; j < groups; j++) {
            int32_t *g = dlanes + 8 * j;
            for (int k = 0; k < 4; k++) {
                dirs[k * stride + 2 * j] += (uint32_t)g[k];
                dirs[k * stride + 2 * j + 1] += (uint32_t)g[4 + k];
            }
            for (int k = 0; k < 8; k++) g[k] = 0;
        }
    }

    /* Fold the AVX2 lane sums into the cells (see wk_stencil_avx2) and clear them. */
    static void wk_fold_lanes(int32_t *lanes, uint32_t *cells, ptrdiff_t groups) {
        for (ptrdiff_t j = 0; j < groups; j++) {
            int32_t *g = lanes + 8 * j;
            cells[2 * j] += (uint32_t)(g[0] + g[1] + g[2] + g[3]);
            cells[2 * j + 1] += (uint32_t)(g[4] + g[5] + g[6] + g[7]);
            for (int k = 0; k < 8; k++) g[k] = 0;
        }
    }
    """
    void wk_gray_row(const uint8_t *bgr, uint8_t *gray, Py_ssize_t w) nogil
    void wk_lum_row(const uint8_t *g, Py_ssize_t w, uint32_t dark, uint32_t bright,
                    int64_t *s1, int64_t *s2, int64_t *under, int64_t *over) nogil
    void wk_colsum_row(const uint8_t *row, uint16_t *acc, Py_ssize_t n) nogil
    void wk_thumb_row(const uint16_t *acc, uint8_t *out, Py_ssize_t tw, Py_ssize_t ch, Py_ssize_t n,
                      int64_t *chan) nogil
    void wk_stencil_row(const uint8_t *u, const uint8_t *c, const uint8_t *d, int16_t *a, Py_ssize_t w,
                        int64_t *sum_l, int64_t *sum_l2, int64_t *sum_n, uint32_t *cells, uint32_t *dirs,
                        Py_ssize_t stride) nogil
    int64_t wk_absdiff_row(const uint8_t *p, const uint8_t *q, Py_ssize_t n) nogil
    void wk_gray_lum(const uint8_t *bgr, uint8_t *gray, uint16_t *acc, Py_ssize_t w, uint32_t dark, uint32_t bright,
                     int64_t *s1, int64_t *s2, int64_t *under, int64_t *over) nogil
    void wk_stencil(const uint8_t *u, const uint8_t *c, const uint8_t *d, int16_t *a, Py_ssize_t w,
                    int64_t *sum_l, int64_t *sum_l2, int64_t *sum_n, uint32_t *cells, int32_t *lanes,
                    uint32_t *dirs, Py_ssize_t stride, int32_t *dlanes) nogil
    void wk_fold_lanes(int32_t *lanes, uint32_t *cells, Py_ssize_t groups) nogil
    void wk_fold_directions(int32_t *dlanes, uint32_t *dirs, Py_ssize_t stride, Py_ssize_t groups) nogil
    int wk_set_simd(int wanted) nogil
    int wk_simd

#: The smallest frame the stencils and the 1/8 thumbnail are defined on.
MIN_SIDE = 8
#: The largest side accepted: 8K leaves room above 4K while the per-row int32 sums stay exact.
MAX_SIDE = 8192
cdef enum:
    SCALE = 8


cdef struct Sums:
    int64_t s1, s2, under, over, sum_l, sum_l2, sum_n
    int64_t chan[4]


cdef inline const uint8_t* packed_row(const uint8_t[:, :, :] img, Py_ssize_t y, uint8_t* scratch) noexcept nogil:
    """A pointer to row y with pixels packed; copies into scratch when the view has gaps."""
    cdef Py_ssize_t x, c, w = img.shape[1], ch = img.shape[2]
    if img.strides[2] == 1 and img.strides[1] == ch:
        return &img[y, 0, 0]
    for x in range(w):
        for c in range(ch):
            scratch[x * ch + c] = img[y, x, c]
    return scratch


cdef int run(const uint8_t[:, :, :] img, uint8_t[:, :] gray_out, bint want_gray, uint8_t[:, :, :] thumb,
             uint32_t[:, :] cell_energy, double[:, :, :] direction_energy, const double[:] column_counts,
             uint32_t dark, uint32_t bright, Sums* s) noexcept nogil:
    """The single pass: every row is converted, summed, folded into the thumbnail and stencilled once."""
    cdef Py_ssize_t h = img.shape[0], w = img.shape[1], ch = img.shape[2], n = w * ch
    cdef Py_ssize_t tw = thumb.shape[1], th = thumb.shape[0], y, yc, x, k, rows_in_cell
    cdef double per_row
    # Cells cover interior pixels (x - 1) // 8; a row has at most groups * 2 of them.
    cdef Py_ssize_t groups = w // 16 + 2
    cdef Py_ssize_t stride = 2 * groups + 2
    cdef uint8_t* scratch = <uint8_t*>malloc(n + 3 * w + 64)
    cdef uint16_t* acc = <uint16_t*>malloc(n * sizeof(uint16_t) + 64)
    cdef int16_t* a = <int16_t*>malloc(w * sizeof(int16_t) + 64)
    cdef uint32_t* cells = <uint32_t*>calloc(2 * groups + 2, sizeof(uint32_t))
    cdef int32_t* lanes = <int32_t*>calloc(8 * groups + 8, sizeof(int32_t))
    cdef uint32_t* dirs = <uint32_t*>calloc(4 * stride, sizeof(uint32_t))
    cdef int32_t* dlanes = <int32_t*>calloc(8 * groups + 8, sizeof(int32_t))  # 4 directions of 2 cells per 8 int32
    cdef const uint8_t* rows[3]
    cdef const uint8_t* src
    cdef uint8_t* g
    if scratch == NULL or acc == NULL or a == NULL or cells == NULL or lanes == NULL or dirs == NULL or dlanes == NULL:
        free(scratch); free(acc); free(a); free(cells); free(lanes); free(dirs); free(dlanes)
        return -1
    memset(acc, 0, n * sizeof(uint16_t))
    memset(s, 0, sizeof(Sums))
    for y in range(h):
        src = packed_row(img, y, scratch)
        if ch == 1:
            if want_gray:
                memcpy(&gray_out[y, 0], src, w)
            # A packed gray row is used in place; a gathered one must survive the next two rows.
            if src == scratch:
                g = scratch + w * (1 + y % 3)
                memcpy(g, src, w)
                src = g
            rows[y % 3] = src
            wk_lum_row(src, w, dark, bright, &s.s1, &s.s2, &s.under, &s.over)
            wk_colsum_row(src, acc, n)
        else:
            g = &gray_out[y, 0] if want_gray else scratch + n + w * (y % 3)
            wk_gray_lum(src, g, acc, w, dark, bright, &s.s1, &s.s2, &s.under, &s.over)
            rows[y % 3] = g
        if y % SCALE == SCALE - 1:
            wk_thumb_row(acc, &thumb[y // SCALE, 0, 0] if tw else NULL, tw, ch, n, s.chan)
            memset(acc, 0, n * sizeof(uint16_t))
        if y >= 2:
            yc = y - 1
            wk_stencil(rows[(y - 2) % 3], rows[(y - 1) % 3], rows[y % 3], a, w, &s.sum_l, &s.sum_l2, &s.sum_n,
                       cells, lanes, dirs, stride, dlanes)
            if (yc - 1) % SCALE == SCALE - 1 or yc == h - 2:
                wk_fold_lanes(lanes, cells, groups)
                wk_fold_directions(dlanes, dirs, stride, groups)
                if (yc - 1) // SCALE < th:
                    # The cell row's interior rows: SCALE, fewer in the last one (as _cell_counts).
                    rows_in_cell = min((yc - 1) // SCALE * SCALE + 1 + SCALE, h - 1) - ((yc - 1) // SCALE * SCALE + 1)
                    per_row = 1.0 / rows_in_cell
                    for x in range(tw):
                        cell_energy[(yc - 1) // SCALE, x] = cells[x]
                    for k in range(4):
                        for x in range(tw):
                            direction_energy[k, (yc - 1) // SCALE, x] = dirs[k * stride + x] * per_row / column_counts[x]
                memset(cells, 0, stride * sizeof(uint32_t))
                memset(dirs, 0, 4 * stride * sizeof(uint32_t))
    wk_thumb_row(acc, NULL, tw, ch, n, s.chan)
    free(scratch); free(acc); free(a); free(cells); free(lanes); free(dirs); free(dlanes)
    return 0


wk_set_simd(1)


def use_simd(bint wanted) -> bool:
    """Switch the AVX2 paths on (if the CPU has them) or off; returns whether they are now in use."""
    return bool(wk_set_simd(wanted))


def simd_in_use() -> bool:
    return bool(wk_simd)


def _check(img, int ch) -> None:
    """Refuse shapes the kernel has no answer for, with the reason."""
    if img.ndim != (3 if ch == 3 else 2) or (ch == 3 and img.shape[2] != 3):
        raise ValueError(f"expected a {'H x W x 3 BGR' if ch == 3 else 'H x W gray'} frame, got shape {img.shape}")
    if img.shape[0] < MIN_SIDE or img.shape[1] < MIN_SIDE:
        raise ValueError(f"frame {img.shape[1]}x{img.shape[0]} is smaller than {MIN_SIDE}x{MIN_SIDE}")
    if img.shape[0] > MAX_SIDE or img.shape[1] > MAX_SIDE:
        raise ValueError(f"frame {img.shape[1]}x{img.shape[0]} is larger than {MAX_SIDE}x{MAX_SIDE}")


def analyze(frame, int dark_level=16, int bright_level=245, gray_out=None):
    """Metrics of one uint8 frame, BGR (H x W x 3) or gray (H x W), any strides.

    Returns (metrics dict, thumbnail): the thumbnail is the INTER_AREA 1/8 reduction of the
    top-left 8*(H//8) x 8*(W//8) region, shaped like the input. The dict's "cell_energy" is the
    mean squared Laplacian of the interior pixels in each thumbnail cell, cells shifted one pixel
    right and down ((y - 1) // 8, (x - 1) // 8); "direction_energy" (4 x H//8 x W//8) the same
    for the second difference along each direction: horizontal [1 -2 1], vertical, the down-right
    and the down-left diagonal. If gray_out (uint8 H x W) is given, the luminance
    plane is written into it.
    """
    if getattr(frame, "dtype", None) != np.uint8:
        raise TypeError(f"expected a uint8 frame, got {getattr(frame, 'dtype', type(frame).__name__)}")
    if not (0 <= dark_level <= 256 and 0 <= bright_level <= 256):
        raise ValueError("dark_level and bright_level must lie in 0..256")
    is_gray = frame.ndim == 2
    _check(frame, 1 if is_gray else 3)
    cdef const uint8_t[:, :, :] img = frame[:, :, None] if is_gray else frame
    cdef Py_ssize_t h = img.shape[0], w = img.shape[1], ch = img.shape[2]
    thumb_arr = np.empty((h // SCALE, w // SCALE, ch), np.uint8)
    cdef uint8_t[:, :, :] thumb = thumb_arr
    energy_arr = np.zeros((h // SCALE, w // SCALE), np.uint32)
    cdef uint32_t[:, :] energy = energy_arr
    # Every cell row gets its interior rows' sums (h >= 8 leaves each at least one): no zeroing.
    directions_arr = np.empty((4, h // SCALE, w // SCALE), np.float64)
    cdef double[:, :, :] directions = directions_arr
    cdef const double[:] column_counts = _cell_counts(w, w // SCALE)
    cdef uint8_t[:, :] gray_view
    cdef bint want_gray = gray_out is not None
    if want_gray:
        if gray_out.dtype != np.uint8 or gray_out.shape != (h, w) or gray_out.strides[1] != 1:
            raise ValueError("gray_out must be a uint8 H x W array with packed rows")
        gray_view = gray_out
    else:
        gray_view = np.empty((1, 1), np.uint8)
    cdef Sums s
    cdef int rc
    with nogil:
        rc = run(img, gray_view, want_gray, thumb, energy, directions, column_counts, dark_level, bright_level, &s)
    if rc != 0:
        raise MemoryError("no memory for the frame kernel's row buffers")
    cdef double n = <double>(h * w), m = (h - 2) * (w - 2)
    counts = np.multiply.outer(_cell_counts(h, h // SCALE), _cell_counts(w, w // SCALE))
    mean = s.s1 / n
    metrics = {
        "mean": mean,
        "std": sqrt(max(s.s2 / n - mean * mean, 0.0)),
        "under_fraction": s.under / n,
        "over_fraction": s.over / n,
        "sharpness": s.sum_l2 / m - (s.sum_l / m) ** 2,
        "noise": sqrt(np.pi / 2) * s.sum_n / (6.0 * m),
        "channel_means": None if is_gray else tuple(s.chan[c] / n for c in range(3)),
        "cell_energy": energy_arr / counts,
        "direction_energy": directions_arr,
    }
    return metrics, (thumb_arr[:, :, 0] if is_gray else thumb_arr)


def _cell_counts(size, cells):
    """Interior pixels (1 .. size - 2) in each cell (x - 1) // 8, for the first `cells` cells."""
    starts = np.arange(cells) * SCALE + 1
    return np.maximum(np.minimum(starts + SCALE, size - 1) - starts, 1).astype(np.float64)


def frozen_score(a, b) -> float:
    """Mean absolute difference per byte between two uint8 frames of the same shape."""
    for f in (a, b):
        if getattr(f, "dtype", None) != np.uint8:
            raise TypeError(f"expected uint8 frames, got {getattr(f, 'dtype', type(f).__name__)}")
    if a.shape != b.shape:
        raise ValueError(f"frames differ in shape: {a.shape} and {b.shape}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ValueError(f"expected a non-empty H x W or H x W x C frame, got shape {a.shape}")
    cdef const uint8_t[:, :, :] p = a if a.ndim == 3 else a[:, :, None]
    cdef const uint8_t[:, :, :] q = b if b.ndim == 3 else b[:, :, None]
    cdef Py_ssize_t h = p.shape[0], n = p.shape[1] * p.shape[2], y
    cdef int64_t total = 0
    cdef uint8_t* bufs = <uint8_t*>malloc(2 * n + 64)
    if bufs == NULL:
        raise MemoryError("no memory for frozen_score's row buffers")
    with nogil:
        for y in range(h):
            total += wk_absdiff_row(packed_row(p, y, bufs), packed_row(q, y, bufs + n), n)
    free(bufs)
    return total / <double>(h * n)


# Thumbnail statistics: small loops (1/64 of the frame's pixels) that numpy would run as a dozen
# array passes, each costing more than the whole frame pass above.

def channel_spread(thumb) -> float:
    """Mean over the pixels of a BGR thumbnail of max - min of the channels (0 for gray)."""
    if thumb.ndim == 2:
        return 0.0
    cdef const uint8_t[:, :, :] t = thumb
    cdef Py_ssize_t y, x, h = t.shape[0], w = t.shape[1]
    cdef int64_t total = 0
    cdef uint8_t b, g, r, hi, lo
    if h * w == 0:
        return 0.0
    with nogil:
        for y in range(h):
            for x in range(w):
                b, g, r = t[y, x, 0], t[y, x, 1], t[y, x, 2]
                hi = b if b > g else g
                hi = hi if hi > r else r
                lo = b if b < g else g
                lo = lo if lo < r else r
                total += hi - lo
    return total / <double>(h * w)


def channel_quantiles(thumb, double fraction):
    """Per-channel quantile (B, G, R) of a BGR thumbnail's pixels, interpolated between order
    statistics as numpy.percentile's default does, read off one 256-bin histogram per channel."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must lie in 0..1")
    cdef const uint8_t[:, :, :] t = thumb
    cdef Py_ssize_t y, x, c, h = t.shape[0], w = t.shape[1]
    if t.shape[2] != 3 or h * w == 0:
        raise ValueError(f"expected a non-empty BGR thumbnail, got shape {thumb.shape}")
    cdef int64_t counts[3][256]
    memset(counts, 0, sizeof(counts))
    with nogil:
        for y in range(h):
            for x in range(w):
                for c in range(3):
                    counts[c][t[y, x, c]] += 1
    cdef double position = fraction * (h * w - 1), part = position - <int64_t>position
    cdef int64_t rank = <int64_t>position, seen
    cdef int level, low
    result = []
    for c in range(3):
        seen, level = 0, 0
        while seen + counts[c][level] <= rank:  # the order statistic at `rank`, then the next one
            seen += counts[c][level]
            level += 1
        low = level
        if part > 0 and seen + counts[c][level] == rank + 1:
            level += 1
            while counts[c][level] == 0:
                level += 1
        result.append(low + part * (level - low))
    return tuple(result)


#: edge_chroma's bins: 1/CHROMA_STEPS log units, CHROMA_BINS of them centred on 0 (a channel's share
#: of an edge cannot leave +-log(256), well inside).
DEF CHROMA_STEPS = 64
DEF CHROMA_BINS = 1024


cdef inline void _count_edge(const uint8_t[:, :, :] t, Py_ssize_t y0, Py_ssize_t x0, Py_ssize_t y1,
                             Py_ssize_t x1, int contrast_min, int* logs, int64_t* counts,
                             int64_t* edges) noexcept nogil:
    # logs[] holds log(d + 1) in 1/(3 CHROMA_STEPS) units, so (3 l_c - sum l) / 9 is the channel's
    # offset from the pair's mean in bins: integer arithmetic, kept non-negative by the bias.
    cdef int d0 = <int>t[y1, x1, 0] - <int>t[y0, x0, 0]
    cdef int d1 = <int>t[y1, x1, 1] - <int>t[y0, x0, 1]
    cdef int d2 = <int>t[y1, x1, 2] - <int>t[y0, x0, 2]
    d0, d1, d2 = (d0 if d0 >= 0 else -d0), (d1 if d1 >= 0 else -d1), (d2 if d2 >= 0 else -d2)
    if d0 + d1 + d2 <= contrast_min:
        return
    cdef int l0 = logs[d0], l1 = logs[d1], l2 = logs[d2], total = l0 + l1 + l2
    counts[(3 * l0 - total + 9 * (CHROMA_BINS // 2) + 4) // 9] += 1
    counts[CHROMA_BINS + (3 * l1 - total + 9 * (CHROMA_BINS // 2) + 4) // 9] += 1
    counts[2 * CHROMA_BINS + (3 * l2 - total + 9 * (CHROMA_BINS // 2) + 4) // 9] += 1
    edges[0] += 1


def edge_chroma(thumb, int clipped, int crushed, int contrast_min):
    """Per-channel median, over the neighbour pairs of a BGR thumbnail with no pixel lost (as in
    edge_gradients) whose summed channel differences exceed `contrast_min`, of each channel's
    log(|difference| + 1) less the pair's mean of the three: the typical edge's colour, each edge
    counting once whatever its contrast. Binned to 1/64 log unit. Returns (b, g, r, edges)."""
    cdef const uint8_t[:, :, :] t = thumb
    cdef Py_ssize_t y, x, c, h = t.shape[0], w = t.shape[1]
    if t.shape[2] != 3:
        raise ValueError(f"expected a BGR thumbnail, got shape {thumb.shape}")
    cdef int logs[256]
    for c in range(256):
        logs[c] = <int>floor(log(c + 1.0) * 3 * CHROMA_STEPS + 0.5)
    cdef int64_t counts[3 * CHROMA_BINS]
    memset(counts, 0, sizeof(counts))
    cdef int64_t edges = 0
    cdef uint8_t* lost = <uint8_t*>malloc(h * w + 1)
    if lost == NULL:
        raise MemoryError("no memory for edge_chroma")
    with nogil:
        for y in range(h):
            for x in range(w):
                lost[y * w + x] = _lost(t, y, x, clipped, crushed)
        for y in range(h):
            for x in range(w):
                if lost[y * w + x]:
                    continue
                if y + 1 < h and not lost[(y + 1) * w + x]:
                    _count_edge(t, y, x, y + 1, x, contrast_min, logs, &counts[0], &edges)
                if x + 1 < w and not lost[y * w + x + 1]:
                    _count_edge(t, y, x, y, x + 1, contrast_min, logs, &counts[0], &edges)
    free(lost)
    if edges == 0:
        return 0.0, 0.0, 0.0, 0
    result = []
    cdef int64_t seen
    cdef int level, lower
    for c in range(3):
        # The middle order statistics (two for an even count, averaged as numpy.median does).
        seen, level = 0, 0
        while seen + counts[c * CHROMA_BINS + level] <= (edges - 1) // 2:
            seen += counts[c * CHROMA_BINS + level]
            level += 1
        lower = level
        while seen + counts[c * CHROMA_BINS + level] <= edges // 2:
            seen += counts[c * CHROMA_BINS + level]
            level += 1
        result.append(((lower + level) / 2.0 - CHROMA_BINS // 2) / CHROMA_STEPS)
    return result[0], result[1], result[2], edges


cdef inline bint _lost(const uint8_t[:, :, :] t, Py_ssize_t y, Py_ssize_t x, int clipped, int crushed) noexcept nogil:
    cdef uint8_t b = t[y, x, 0], g = t[y, x, 1], r = t[y, x, 2]
    return b >= clipped or g >= clipped or r >= clipped or b <= crushed or g <= crushed or r <= crushed


cdef inline bint _either_lost(const uint8_t[:, :, :] t, const uint8_t[:, :, :] o, bint use_other, Py_ssize_t y,
                              Py_ssize_t x, int clipped, int crushed) noexcept nogil:
    return _lost(t, y, x, clipped, crushed) or (use_other and _lost(o, y, x, clipped, crushed))


def edge_gradients(thumb, int clipped, int crushed, other=None):
    """Per-channel sums of |difference| over vertical and horizontal neighbour pairs of a BGR
    thumbnail, leaving out pairs with a pixel at or above `clipped` or at or below `crushed` in any
    channel, here or (if given) in `other`, a thumbnail of the same shape: comparing two frames,
    both are summed over the same pixels. Returns (sum_b, sum_g, sum_r, pairs)."""
    cdef const uint8_t[:, :, :] t = thumb
    cdef Py_ssize_t y, x, c, h = t.shape[0], w = t.shape[1]
    cdef const uint8_t[:, :, :] o
    cdef bint use_other = other is not None
    if use_other:
        if other.shape != thumb.shape:
            raise ValueError(f"thumbnails differ in shape: {thumb.shape} and {other.shape}")
        o = other
    else:
        o = thumb
    cdef uint8_t* lost = <uint8_t*>malloc(h * w + 1)
    if lost == NULL:
        raise MemoryError("no memory for edge_gradients")
    cdef int64_t sums[3]
    cdef int64_t pairs = 0
    cdef int d
    sums[0] = sums[1] = sums[2] = 0
    with nogil:
        for y in range(h):
            for x in range(w):
                lost[y * w + x] = _lost(t, y, x, clipped, crushed) or (use_other and _lost(o, y, x, clipped, crushed))
        for y in range(h):
            for x in range(w):
                if lost[y * w + x]:
                    continue
                if y + 1 < h and not lost[(y + 1) * w + x]:
                    pairs += 1
                    for c in range(3):
                        d = <int>t[y + 1, x, c] - <int>t[y, x, c]
                        sums[c] += d if d >= 0 else -d
                if x + 1 < w and not lost[y * w + x + 1]:
                    pairs += 1
                    for c in range(3):
                        d = <int>t[y, x + 1, c] - <int>t[y, x, c]
                        sums[c] += d if d >= 0 else -d
    free(lost)
    return sums[0], sums[1], sums[2], pairs


cdef inline Py_ssize_t _reflect(Py_ssize_t i, Py_ssize_t n) noexcept nogil:
    """OpenCV's BORDER_REFLECT_101 index (the default border of cv2.blur)."""
    if n == 1:
        return 0
    if i < 0:
        return -i
    if i >= n:
        return 2 * n - 2 - i
    return i


cdef double _select(double* v, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    """The k-th smallest of v[0..n) (v is reordered): Hoare's quickselect."""
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j
    cdef double pivot, tmp
    while lo < hi:
        pivot = v[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while v[i] < pivot:
                i += 1
            while v[j] > pivot:
                j -= 1
            if i <= j:
                tmp = v[i]; v[i] = v[j]; v[j] = tmp
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            break
    return v[k]


def edge_sharpness(cell_energy, gray_thumb, double noise_energy, double contrast_min, Py_ssize_t cells_min,
                   double percentile):
    """The `percentile` (numpy's linear method) over the cells whose 3 x 3 neighbourhood of the gray
    thumbnail has variance >= contrast_min (and > 0) of max(cell_energy - noise_energy, 0) / that variance;
    None with fewer than cells_min such cells. The variance is cv2.blur's (3 x 3 box, reflected
    border) mean of squares minus squared mean: direction_sharpness of one energy over box_variance."""
    energy = np.ascontiguousarray(cell_energy, dtype=np.float64)
    if energy.shape != np.shape(gray_thumb):
        raise ValueError(f"cell_energy {energy.shape[0]} x {energy.shape[1]} does not match the thumbnail "
                         f"{np.shape(gray_thumb)[0]} x {np.shape(gray_thumb)[1]}")
    values = direction_sharpness(energy[None], box_variance(gray_thumb), noise_energy, contrast_min, cells_min,
                                 percentile)
    return None if values is None else values[0]


def direction_sharpness(direction_energy, variance, double noise_energy, double contrast_min, Py_ssize_t cells_min,
                        double percentile):
    """edge_sharpness for each direction of `direction_energy` (k x H x W, one cell energy per
    direction) over the cells whose `variance` (box_variance of the gray thumbnail) is at least
    contrast_min (and > 0): a tuple of k values, or None with fewer than cells_min such cells."""
    cdef const double[:, :, :] e = np.ascontiguousarray(direction_energy, dtype=np.float64)
    cdef const double[:, :] var = variance
    cdef Py_ssize_t count = e.shape[0], h = var.shape[0], w = var.shape[1], y, x, k, n = 0
    if e.shape[1] != h or e.shape[2] != w:
        raise ValueError(f"direction_energy {direction_energy.shape} does not match the variance {variance.shape}")
    if count > 8:
        raise ValueError("direction_sharpness takes at most 8 directions")
    cdef double* ratios = <double*>malloc((count * h * w + 1) * sizeof(double))
    if ratios == NULL:
        raise MemoryError("no memory for direction_sharpness")
    cdef double v, c
    cdef double values[8]
    with nogil:
        # One sweep: the directions' ratios of a cell side by side in blocks of h * w.
        for y in range(h):
            for x in range(w):
                c = var[y, x]
                if c >= contrast_min and c > 0:
                    for k in range(count):
                        v = e[k, y, x] - noise_energy
                        ratios[k * h * w + n] = (v if v > 0 else 0.0) / c
                    n += 1
        if n >= cells_min and n > 0:
            for k in range(count):
                values[k] = _percentile_of(ratios + k * h * w, n, percentile)
    free(ratios)
    if n < cells_min or n == 0:
        return None
    return tuple(values[k] for k in range(count))


def box_variance(gray_thumb):
    """The 3 x 3 box variance of edge_sharpness (reflected border, mean of squares minus squared mean)."""
    cdef const uint8_t[:, :] g = gray_thumb
    cdef Py_ssize_t h = g.shape[0], w = g.shape[1], y, x, d, xi, yi
    out = np.empty((h, w), np.float64)
    r1_arr = np.empty((h, w), np.float64)
    r2_arr = np.empty((h, w), np.float64)
    cdef double[:, :] o = out
    cdef double[:, :] r1 = r1_arr
    cdef double[:, :] r2 = r2_arr
    cdef double s1, s2, v, mean
    with nogil:
        for y in range(h):
            for x in range(w):
                s1 = s2 = 0.0
                for d in range(-1, 2):
                    xi = _reflect(x + d, w)
                    v = g[y, xi]
                    s1 += v
                    s2 += v * v
                r1[y, x] = s1
                r2[y, x] = s2
        for y in range(h):
            for x in range(w):
                s1 = s2 = 0.0
                for d in range(-1, 2):
                    yi = _reflect(y + d, h)
                    s1 += r1[yi, x]
                    s2 += r2[yi, x]
                mean = s1 / 9.0
                o[y, x] = s2 / 9.0 - mean * mean
    return out


cdef double _percentile_of(double* v, Py_ssize_t n, double percentile) noexcept nogil:
    """numpy's linear percentile of v[0..n) (v is reordered), by selection as edge_sharpness."""
    cdef Py_ssize_t k, y, m, j, below = 0, kept = 0, step = 16
    cdef double position, low, high, t, pivot
    cdef double* w = v
    position = percentile / 100.0 * (n - 1)
    k = <Py_ssize_t>position
    # A high percentile lies among few values: a pivot taken from every 16th value, a margin below
    # where the percentile falls in that sample, leaves those few above it to select among. Exact
    # whenever at most k values fall below the pivot, else (rarely) the whole array is selected in.
    m = n // step
    cdef double* sample = <double*>malloc((m + 1) * sizeof(double)) if m >= 64 else NULL
    cdef double* above = NULL
    if sample != NULL:
        for y in range(m):
            sample[y] = v[y * step]
        j = <Py_ssize_t>(<double>k / n * m - 3.0 * sqrt(<double>m)) 
        if j > 0:
            pivot = _select(sample, m, j)
            above = <double*>malloc((n + 1) * sizeof(double))
            if above != NULL:
                for y in range(n):
                    if v[y] < pivot:
                        below += 1
                    else:
                        above[kept] = v[y]
                        kept += 1
                if below <= k:
                    w, n, k = above, kept, k - below
        free(sample)
    low = _select(w, n, k)
    high = low
    if k + 1 < n:
        high = w[k + 1]
        for y in range(k + 2, n):
            if w[y] < high:
                high = w[y]
    free(above)
    t = position - <Py_ssize_t>position
    # numpy's _lerp, as edge_sharpness.
    if t >= 0.5:
        return high - (high - low) * (1 - t)
    return low + (high - low) * t
