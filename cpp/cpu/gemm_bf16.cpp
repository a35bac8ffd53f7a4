// bf16 matrix products with VDPBF16PS (AVX512-BF16). One instruction multiplies 16 pairs of bf16
// values and adds both products of each pair to a float32 lane: twice the multiply-adds per cycle
// of a float32 FMA (on the 2-core Zen 4 here, 116 against 58 G per second and core).
//
// The loop is GotoBLAS's: a block of op(B) (kKC x kNC) and then of op(A) (kMC x kKC) is packed into
// bf16 pairs along k, and a 12 x 32 micro-kernel keeps its C tile in 24 zmm accumulators, for each
// pair of k broadcasting one 32-bit pair of A per row against two vectors of B's pairs. Packed
// layouts: an A panel is [kMR][kKP] words (A[m][k], A[m][k + 1]), a B panel [kp][kNR] words
// (B[k][n], B[k + 1][n]), the even k in the low half as VDPBF16PS pairs them. Rows and columns
// past the matrix, and the k past an odd K, are packed as zeros.
//
// Rounding is VCVTNE2PS2BF16's: to nearest even, NaN stays NaN; like VDPBF16PS it treats float32
// denormals (below 1.2e-38) as zero, where the rounding oracle of the tests would keep them.
#include "cpu/gemm_bf16.h"

#include <algorithm>
#include <cstdlib>

#if defined(__AVX512BF16__) && defined(__AVX512BW__)
#include <immintrin.h>

#include "cpu/transpose.h"
#define MD_BF16_GEMM 1
#endif

namespace md::cpu {

#if defined(MD_BF16_GEMM)

namespace {

constexpr int kMR = 12;            // rows of a micro-tile
constexpr int kNR = 32;            // columns of a micro-tile (two zmm)
constexpr int64_t kKC = 384;       // k per packed block (even)
constexpr int64_t kKP = kKC / 2;   // pairs per packed block
constexpr int64_t kMC = 12 * kMR;  // rows per packed A block: a 128-row weight in one block
constexpr int64_t kNC = 24 * kNR;  // columns per packed B block: 590 KB, within L2

struct Buffers {
  uint32_t* a = nullptr;
  uint32_t* b = nullptr;
  ~Buffers() {
    std::free(a);
    std::free(b);
  }
};

// This thread's packing buffers (690 KB, kept for the thread's life), or nullptr without memory.
Buffers* buffers() noexcept {
  thread_local Buffers buf;
  if (!buf.a) buf.a = static_cast<uint32_t*>(std::aligned_alloc(64, kKP * kMC * 4));
  if (!buf.b) buf.b = static_cast<uint32_t*>(std::aligned_alloc(64, kKP * kNC * 4));
  return buf.a && buf.b ? &buf : nullptr;
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1);
}

// Words j = (x[2j], x[2j + 1]) for j < 16, from x[0, n) and zeros past it.
inline __m512i pairs_along(const float* x, int64_t n) {
  const __m512 lo = _mm512_maskz_loadu_ps(first_lanes(n), x), hi = _mm512_maskz_loadu_ps(first_lanes(n - 16), x + 16);
  return reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(hi, lo));  // bf16 elements 0-15 from lo, 16-31 from hi
}

// Words c = (r0[c], r1[c]) for c < n <= 16, zeros past n; r1 == nullptr reads as zeros.
inline __m512i pairs_across(const float* r0, const float* r1, int64_t n) {
  alignas(64) static const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __mmask16 m = first_lanes(n);
  const __m512 a = _mm512_maskz_loadu_ps(m, r0), b = r1 ? _mm512_maskz_loadu_ps(m, r1) : _mm512_setzero_ps();
  const __m512i v = reinterpret_cast<__m512i>(_mm512_cvtne2ps_pbh(b, a));  // r0 in elements 0-15, r1 in 16-31
  return _mm512_permutexvar_epi16(_mm512_load_si512(kInterleave), v);
}

// Packs `lines` (<= 16) rows of a matrix whose pairs lie along its rows (op(A) untransposed, or
// op(B) transposed): row l starts at row(l) (nullptr: a zero row) and holds kc values. Word (kk, l)
// goes to dst[kk * ld + l] for kk < kp: 16x16 blocks of words transposed in registers.
template <typename RowPtr>
void pack_rows(uint32_t* dst, int64_t ld, int lines, RowPtr row, int64_t kc, int64_t kp) {
  alignas(64) uint32_t blk[16 * 16], tr[16 * 16];
  for (int64_t kk0 = 0; kk0 < kp; kk0 += 16) {
    for (int l = 0; l < 16; ++l) {
      const float* r = l < lines ? row(l) : nullptr;
      const __m512i w = r ? pairs_along(r + 2 * kk0, kc - 2 * kk0) : _mm512_setzero_si512();
      _mm512_store_si512(blk + 16 * l, w);
    }
    transpose16(reinterpret_cast<const float*>(blk), 16, reinterpret_cast<float*>(tr), 16);
    const int64_t n = std::min<int64_t>(16, kp - kk0);
    const __mmask16 keep = first_lanes(lines);
    for (int64_t t = 0; t < n; ++t)
      _mm512_mask_storeu_epi32(dst + (kk0 + t) * ld, keep, _mm512_load_si512(tr + 16 * t));
  }
}

// op(B) rows [k0, k0 + kc), columns [n0, n0 + nc) -> panels of kNR columns, [kp][kNR] each.
void pack_b(uint32_t* dst, bool tb, const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t n0, int64_t nc) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t j = 0; j * kNR < nc; ++j) {
    uint32_t* panel = dst + j * kp * kNR;
    const int64_t c0 = n0 + j * kNR, cols = std::min<int64_t>(kNR, nc - j * kNR);
    if (!tb) {  // B (K, N): the pair's two values sit in rows k and k + 1
      for (int64_t kk = 0; kk < kp; ++kk) {
        const float* r0 = B + (k0 + 2 * kk) * ldb + c0;
        const float* r1 = 2 * kk + 1 < kc ? r0 + ldb : nullptr;
        _mm512_store_si512(panel + kk * kNR, pairs_across(r0, r1, cols));
        _mm512_store_si512(panel + kk * kNR + 16, cols > 16 ? pairs_across(r0 + 16, r1 ? r1 + 16 : nullptr, cols - 16)
                                                            : _mm512_setzero_si512());
      }
    } else {  // B stored (N, K): column n of op(B) is row n, its pairs side by side
      for (int g = 0; g < kNR / 16; ++g) {
        const int64_t first = c0 + 16 * g;
        const int lines = static_cast<int>(std::clamp<int64_t>(cols - 16 * g, 0, 16));
        pack_rows(
            panel + 16 * g, kNR, 16, [&](int l) { return l < lines ? B + (first + l) * ldb + k0 : nullptr; }, kc, kp);
      }
    }
  }
}

// op(A) rows [m0, m0 + mc), k [k0, k0 + kc) -> panels of kMR rows, [kMR][kKP] each: a row's pairs
// side by side at a fixed stride, so the micro-kernel reaches every row at a constant offset.
void pack_a(uint32_t* dst, bool ta, const float* A, int64_t lda, int64_t m0, int64_t mc, int64_t k0, int64_t kc) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t i = 0; i * kMR < mc; ++i) {
    uint32_t* panel = dst + i * kMR * kKP;
    const int64_t r0 = m0 + i * kMR, rows = std::min<int64_t>(kMR, mc - i * kMR);
    if (!ta) {  // A (M, K): pairs along the rows
      for (int64_t l = 0; l < kMR; ++l)
        for (int64_t kk0 = 0; kk0 < kp; kk0 += 16) {
          const __m512i w =
              l < rows ? pairs_along(A + (r0 + l) * lda + k0 + 2 * kk0, kc - 2 * kk0) : _mm512_setzero_si512();
          _mm512_mask_storeu_epi32(panel + l * kKP + kk0, first_lanes(kp - kk0), w);
        }
    } else {  // A stored (K, M): a pair's values sit in rows k and k + 1; 16x16 blocks of words transposed
      alignas(64) uint32_t blk[16 * 16], tr[16 * 16];
      for (int64_t kk0 = 0; kk0 < kp; kk0 += 16) {
        for (int64_t t = 0; t < 16; ++t) {
          const int64_t kk = kk0 + t;
          const float* s0 = A + (k0 + 2 * kk) * lda + r0;
          const __m512i w =
              kk < kp ? pairs_across(s0, 2 * kk + 1 < kc ? s0 + lda : nullptr, rows) : _mm512_setzero_si512();
          _mm512_store_si512(blk + 16 * t, w);
        }
        transpose16(reinterpret_cast<const float*>(blk), 16, reinterpret_cast<float*>(tr), 16);
        for (int64_t l = 0; l < kMR; ++l)
          _mm512_mask_storeu_epi32(panel + l * kKP + kk0, first_lanes(kp - kk0), _mm512_load_si512(tr + 16 * l));
      }
    }
  }
}

// C tile (rows <= kMR, cols <= kNR) = alpha * A panel . B panel + (first ? beta * C : C).
void micro_kernel(const uint32_t* a, const uint32_t* b, int64_t kp, float* C, int64_t ldc, int64_t rows, int64_t cols,
                  float alpha, float beta, bool first) {
  __m512 c[kMR][2];
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  for (int64_t kk = 0; kk < kp; ++kk) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + kk * kNR));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + kk * kNR + 16));
    const uint32_t* ak = a + kk;
#pragma GCC unroll 12
    for (int i = 0; i < kMR; ++i) {
      const __m512bh ai = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(ak[i * kKP])));
      c[i][0] = _mm512_dpbf16_ps(c[i][0], ai, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], ai, b1);
    }
  }
  const __mmask16 mask[2] = {first_lanes(cols), first_lanes(cols - 16)};
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int i = 0; i < kMR; ++i) {
    if (i >= rows) break;
    float* row = C + i * ldc;
    for (int v = 0; v < 2; ++v) {
      if (!mask[v]) continue;
      __m512 r = _mm512_mul_ps(va, c[i][v]);
      if (!first)
        r = _mm512_add_ps(r, _mm512_maskz_loadu_ps(mask[v], row + 16 * v));
      else if (beta != 0.0f)
        r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask[v], row + 16 * v), r);
      _mm512_mask_storeu_ps(row + 16 * v, mask[v], r);
    }
  }
}

}  // namespace

bool bf16_gemm_available() { return true; }

bool bf16_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept {
  Buffers* buf = buffers();
  if (!buf || M <= 0 || N <= 0 || K <= 0) return false;
  for (int64_t n0 = 0; n0 < N; n0 += kNC) {
    const int64_t nc = std::min(kNC, N - n0);
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0), kp = (kc + 1) / 2;
      pack_b(buf->b, tb, B, ldb, k0, kc, n0, nc);
      for (int64_t m0 = 0; m0 < M; m0 += kMC) {
        const int64_t mc = std::min(kMC, M - m0);
        pack_a(buf->a, ta, A, lda, m0, mc, k0, kc);
        for (int64_t j = 0; j * kNR < nc; ++j)
          for (int64_t i = 0; i * kMR < mc; ++i)
            micro_kernel(buf->a + i * kMR * kKP, buf->b + j * kp * kNR, kp, C + (m0 + i * kMR) * ldc + n0 + j * kNR,
                         ldc, std::min<int64_t>(kMR, mc - i * kMR), std::min<int64_t>(kNR, nc - j * kNR), alpha, beta,
                         k0 == 0);
      }
    }
  }
  return true;
}

#else

bool bf16_gemm_available() { return false; }

bool bf16_gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
               float*, int64_t) noexcept {
  return false;
}

#endif

}  // namespace md::cpu
