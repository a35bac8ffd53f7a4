// A float matrix transpose for the CPU kernels (Winograd's batch-last copies, strided copies that
// swap the last two dims).
#pragma once

#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace md::cpu {

// dst (cols, rows) = src (rows, cols) transposed, src rows ls apart and dst rows ld apart: 16x16
// blocks in AVX-512 registers where the CPU has them (as scalar stores, Winograd's batch-last
// copies were 5% of the digits step), scalar elsewhere and at the edges.
#if defined(__AVX512F__)
// GCC 12's AVX-512 headers start some intrinsics' results from a deliberately undefined vector,
// which -W(maybe-)uninitialized reports at every use; kept out of line so the pragma covers it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((noinline)) inline void transpose16(const float* src, int64_t ls, float* dst, int64_t ld) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ls);
  // within each 128-bit lane k: u[4g + m] = column 4k + m of rows 4g..4g+3
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // then a 4x4 transpose of 128-bit lanes among r[m], r[4 + m], r[8 + m], r[12 + m]
  for (int m = 0; m < 4; ++m) {
    const __m512 e = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x44), f = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xee);
    const __m512 g = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x44),
                 h = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xee);
    t[m] = _mm512_shuffle_f32x4(e, g, 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(e, g, 0xdd);
    t[8 + m] = _mm512_shuffle_f32x4(f, h, 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(f, h, 0xdd);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ld, t[i]);
}
#pragma GCC diagnostic pop
constexpr int64_t kTransposeBlock = 16;
#else
constexpr int64_t kTransposeBlock = 0;  // no vector blocks
#endif

inline void transpose(float* dst, int64_t ld, const float* src, int64_t ls, int64_t rows, int64_t cols) {
  int64_t r_done = 0, c_done = 0;
#if defined(__AVX512F__)
  r_done = rows / kTransposeBlock * kTransposeBlock;
  c_done = cols / kTransposeBlock * kTransposeBlock;
  for (int64_t c0 = 0; c0 < c_done; c0 += kTransposeBlock)
    for (int64_t r0 = 0; r0 < r_done; r0 += kTransposeBlock)
      transpose16(src + r0 * ls + c0, ls, dst + c0 * ld + r0, ld);
#endif
  // the edges: rows past the last whole block (all columns), columns past it (the blocks' rows)
  for (int64_t r = r_done; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ld + r] = src[r * ls + c];
  for (int64_t c = c_done; c < cols; ++c)
    for (int64_t r = 0; r < r_done; ++r) dst[c * ld + r] = src[r * ls + c];
}

}  // namespace md::cpu
