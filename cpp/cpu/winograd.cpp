// Winograd F(m x m, 3 x 3) for stride-1 3x3 convolutions, m = 2 or 4 (Lavin & Gray, "Fast
// Algorithms for Convolutional Neural Networks", 2016). Each m x m output tile is
// Y = A^T [U (.) V] A with U = G g G^T (the n x n transformed kernel, n = m + 2) and V = B^T d B
// (the transformed n x n input tile). Summed over input channels, each of the n^2 tile positions
// becomes a matrix product M[pos] (Cout, tiles) = U[pos] (Cout, Cin) @ V[pos] (Cin, tiles): per
// output pixel n^2 / m^2 multiplies per channel pair (F(2x2): 4, F(4x4): 2.25) replace im2col's 9.
//
// Work is cut into chunks of whole tile rows (across images, so batch 32 of 7x7 images still gives
// big products); each OpenMP thread takes whole chunks: it transforms the chunk's input into its
// own (n^2, Cin, tiles) buffer, runs the n^2 single-threaded GEMMs into (n^2, Cout, tiles), and
// transforms those back into the output. A chunk's buffers stay near the core's cache, and the
// threads synchronise once per convolution. The weight gradient is the adjoint of the same
// algorithm: per position dU[pos] (Cout, Cin) += Z[pos] (Cout, tiles) @ V[pos]^T with
// Z = A dY A^T, then dW = G^T dU G.
//
// Float32 error: the F(2x2) transforms only add, subtract and halve, so results stay within the
// im2col path's error. F(4x4) (points 0, +-1, +-2) scales by up to 8 and 1/24: in a float32
// simulation (NumPy, against float64, 16-256 channels) its largest error was 4-8e-6 of the
// output's largest magnitude, 10-15x F(2x2)'s, well inside the 1e-4 of this repository's parity
// tests against PyTorch. In bf16 mode (operands rounded to 8 bits of mantissa) that
// amplification would reach the rounding error itself, so bf16 mode keeps F(2x2) (winograd_tile).
#include "cpu/winograd.h"

#include <algorithm>
#include <cstring>

#include "core/common.h"
#include "cpu/common.h"
#include "cpu/transpose.h"
#include "kernels.h"

namespace md::cpu {

namespace {

// ---- the one-dimensional transforms of F(m, 3): B^T (n x n), A^T (m x n), G (n x 3), and the
// adjoints A and G^T the gradients use. Written out term by term: a matrix table would multiply
// by its zeros, which the compiler must keep (0 * inf is NaN).
template <int M>
struct Wino;

template <>
struct Wino<2> {  // points 0, 1, -1 and infinity
  static constexpr int N = 4;
  MD_ALWAYS_INLINE static void in(const float* d, float* u) {  // u = B^T d
    u[0] = d[0] - d[2];
    u[1] = d[1] + d[2];
    u[2] = d[2] - d[1];
    u[3] = d[1] - d[3];
  }
  MD_ALWAYS_INLINE static void out(const float* m, float* y) {  // y = A^T m
    y[0] = m[0] + m[1] + m[2];
    y[1] = m[1] - m[2] - m[3];
  }
  MD_ALWAYS_INLINE static void out_adj(const float* y, float* z) {  // z = A y
    z[0] = y[0];
    z[1] = y[0] + y[1];
    z[2] = y[0] - y[1];
    z[3] = -y[1];
  }
  MD_ALWAYS_INLINE static void weight(const float* g, float* a) {  // a = G g
    a[0] = g[0];
    a[1] = 0.5f * (g[0] + g[1] + g[2]);
    a[2] = 0.5f * (g[0] - g[1] + g[2]);
    a[3] = g[2];
  }
  MD_ALWAYS_INLINE static void weight_adj(const float* s, float* w) {  // w = G^T s
    w[0] = s[0] + 0.5f * (s[1] + s[2]);
    w[1] = 0.5f * (s[1] - s[2]);
    w[2] = 0.5f * (s[1] + s[2]) + s[3];
  }
};

template <>
struct Wino<4> {  // points 0, 1, -1, 2, -2 and infinity
  static constexpr int N = 6;
  // multiplied rather than divided by: a division cannot be vectorised into a multiplication
  // without -ffast-math, and took most of the kernel transform's time
  static constexpr float kSixth = 1.0f / 6.0f, k12th = 1.0f / 12.0f, k24th = 1.0f / 24.0f;
  MD_ALWAYS_INLINE static void in(const float* d, float* u) {
    const float p = d[4] - 4.0f * d[2], q = d[3] - 4.0f * d[1];  // shared by rows 1 and 2
    const float r = d[4] - d[2], t = 2.0f * (d[3] - d[1]);       // rows 3 and 4
    u[0] = 4.0f * d[0] - 5.0f * d[2] + d[4];
    u[1] = p + q;
    u[2] = p - q;
    u[3] = r + t;
    u[4] = r - t;
    u[5] = 4.0f * d[1] - 5.0f * d[3] + d[5];
  }
  MD_ALWAYS_INLINE static void out(const float* m, float* y) {
    const float a = m[1] + m[2], b = m[1] - m[2], c = m[3] + m[4], e = m[3] - m[4];
    y[0] = m[0] + a + c;
    y[1] = b + 2.0f * e;
    y[2] = a + 4.0f * c;
    y[3] = b + 8.0f * e + m[5];
  }
  MD_ALWAYS_INLINE static void out_adj(const float* y, float* z) {
    const float ev = y[0] + y[2], od = y[1] + y[3];                         // the points +-1
    const float ev2 = y[0] + 4.0f * y[2], od2 = 2.0f * y[1] + 8.0f * y[3];  // the points +-2
    z[0] = y[0];
    z[1] = ev + od;
    z[2] = ev - od;
    z[3] = ev2 + od2;
    z[4] = ev2 - od2;
    z[5] = y[3];
  }
  MD_ALWAYS_INLINE static void weight(const float* g, float* a) {
    const float ev = g[0] + g[2];
    a[0] = 0.25f * g[0];
    a[1] = -(ev + g[1]) * kSixth;
    a[2] = -(ev - g[1]) * kSixth;
    a[3] = (g[0] + 2.0f * g[1] + 4.0f * g[2]) * k24th;
    a[4] = (g[0] - 2.0f * g[1] + 4.0f * g[2]) * k24th;
    a[5] = g[2];
  }
  MD_ALWAYS_INLINE static void weight_adj(const float* s, float* w) {
    w[0] = 0.25f * s[0] - (s[1] + s[2]) * kSixth + (s[3] + s[4]) * k24th;
    w[1] = (s[2] - s[1]) * kSixth + (s[3] - s[4]) * k12th;
    w[2] = (s[3] + s[4] - s[1] - s[2]) * kSixth + s[5];
  }
};

// y(i, j, v) for v = (T x T^T)_ij, i, j < Out, of the In x In tile x(i, j), where f(in, out) is
// the 1-D transform T (Out x In): columns first, then rows. Every 2-D transform here but the
// input's (see input_tiles) is one of these.
template <int In, int Out, typename F, typename X, typename Y>
MD_ALWAYS_INLINE void separable(F f, X x, Y y) {
  float w[Out][In];  // T x, column by column
#pragma GCC unroll 8
  for (int j = 0; j < In; ++j) {
    float c[In], o[Out];
#pragma GCC unroll 8
    for (int i = 0; i < In; ++i) c[i] = x(i, j);
    f(c, o);
#pragma GCC unroll 8
    for (int i = 0; i < Out; ++i) w[i][j] = o[i];
  }
#pragma GCC unroll 8
  for (int i = 0; i < Out; ++i) {  // (T x) T^T
    float o[Out];
    f(w[i], o);
#pragma GCC unroll 8
    for (int j = 0; j < Out; ++j) y(i, j, o[j]);
  }
}

// ---- the two-dimensional transforms, for B lanes (tiles) at once; each lane's values lie one
// float apart from its neighbour's (positions, rows and columns further apart).

// One 1-D input transform per lane: o[i * os + l] = (B^T x)_i with x_a = s[a][l]. The lane loops
// here and below are kept rolled (`unroll 1`) for the vectoriser: GCC unrolled 4-lane loops
// completely first and left most of them scalar (20 of the 60 input passes), which made F(4x4)
// on 14x14 maps (4 tiles a row, 4 lanes) spend 18% of its time in the input transform.
template <int M, int B>
MD_ALWAYS_INLINE void input_pass(float* o, int64_t os, const float* const* s) {
  constexpr int N = Wino<M>::N;
#pragma GCC ivdep
#pragma GCC unroll 1
  for (int l = 0; l < B; ++l) {
    float x[N], y[N];
#pragma GCC unroll 8
    for (int a = 0; a < N; ++a) x[a] = s[a][l];
    Wino<M>::in(x, y);
#pragma GCC unroll 8
    for (int i = 0; i < N; ++i) o[i * os + l] = y[i];
  }
}

// v[(n i + j) * vs + l] = (B^T d B)_ij of lane l, whose input element (a, b) is at(a, b)[l].
// Two passes through tmp (n^2 * B floats): columns, then rows, each with n streams in and n out
// (all n^2 of a tile at once spilled their addresses). at(a, b) may point at zeros (padding).
template <int M, int B, typename At>
MD_ALWAYS_INLINE void input_tiles(float* v, int64_t vs, At at, float* tmp) {
  constexpr int N = Wino<M>::N;
  const float* s[N];
#pragma GCC unroll 8
  for (int b = 0; b < N; ++b) {  // tmp[(n i + b) * B + l] = (B^T d)_ib
#pragma GCC unroll 8
    for (int a = 0; a < N; ++a) s[a] = at(a, b);
    input_pass<M, B>(tmp + b * B, N * B, s);
  }
#pragma GCC unroll 8
  for (int i = 0; i < N; ++i) {  // row i of (B^T d) B
#pragma GCC unroll 8
    for (int j = 0; j < N; ++j) s[j] = tmp + (i * N + j) * B;
    input_pass<M, B>(v + N * i * vs, vs, s);
  }
}

// store(l, i, j, y) for the m x m outputs y = (A^T M A)_ij + bias of lane l, whose transformed
// values are m[p * ms + l], p = n row + column.
template <int M, int B, typename Store>
MD_ALWAYS_INLINE void output_tiles(const float* m, int64_t ms, float bias, Store store) {
  constexpr int N = Wino<M>::N;
#pragma GCC ivdep
#pragma GCC unroll 1
  for (int l = 0; l < B; ++l)
    separable<N, M>(
        Wino<M>::out, [&](int i, int j) { return m[(N * i + j) * ms + l]; },
        [&](int i, int j, float v) { store(l, i, j, v + bias); });
}

// z[p * zs + l] = (A dY A^T)_p of lane l, whose m x m output gradient is dy(l, i, j).
template <int M, int B, typename Load>
MD_ALWAYS_INLINE void output_grad_tiles(Load dy, float* z, int64_t zs) {
  constexpr int N = Wino<M>::N;
#pragma GCC ivdep
#pragma GCC unroll 1
  for (int l = 0; l < B; ++l)
    separable<M, N>(
        Wino<M>::out_adj, [&](int i, int j) { return dy(l, i, j); },
        [&](int i, int j, float v) { z[(N * i + j) * zs + l] = v; });
}

// A stride-1 3x3 correlation out (N, Cout, P, Q) of in (N, Cin, H, W) zero-padded by (ph, pw),
// in m x m output tiles.
struct Tiling {
  int m;
  int N, Cin, H, W;
  int Cout, P, Q;
  int ph, pw;
  int TH, TW;                                                    // output tiles per image: ceil(P / m) x ceil(Q / m)
  int64_t rows() const { return static_cast<int64_t>(N) * TH; }  // tile rows of the whole batch
};

Tiling make_tiling(int m, int N, int Cin, int H, int W, int Cout, int P, int Q, int ph, int pw) {
  return {m, N, Cin, H, W, Cout, P, Q, ph, pw, (P + m - 1) / m, (Q + m - 1) / m};
}

// Tile rows per chunk, chunk count and threads for chunks of about `target` tiles (see
// chunk_tiles); the chunk count is a multiple of the thread count so every thread gets the same
// work.
struct Chunks {
  int64_t rows_per_chunk, count;
  int threads;
  int64_t cap;  // tiles in a full chunk: the leading dimension of the per-thread buffers
};

Chunks plan_chunks(const Tiling& t, int64_t target) {
  const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t rows = t.rows();
  int64_t per = std::max<int64_t>(1, target / t.TW);
  int64_t count = (rows + per - 1) / per;
  count = std::min(rows, (count + T - 1) / T * T);
  per = (rows + count - 1) / count;
  count = (rows + per - 1) / per;
  return {per, count, static_cast<int>(std::min<int64_t>(T, count)), per * t.TW};
}

// The row-wise transforms run over the tiles of one tile row in blocks of B lanes (8, or 4 for
// rows of at most 4 tiles), with the row length rounded up to whole blocks: a loop of a fixed
// length vectorises without a scalar tail, which at these widths (7x7 images have 4 tiles per row,
// 14x14 have 7) would otherwise do most of the work. The lanes past the row's end compute
// garbage from zero padding and write it into the next row's columns, which that row overwrites
// later (rows and channels are written in increasing order), or into the slack after the last
// one (see pos_stride).
template <int B>
constexpr int round_up(int n) {
  return (n + B - 1) / B * B;
}

// Row buffers hold a row split into its m phases: phase q (element q of every tile, Lp floats
// long) first, so lane l (tile tx0 + l) of a transform reads or writes element l of a phase, one
// float from its neighbour's (interleaved rows made every F(4x4) lane access a stride-4 gather
// that the compiler left scalar). Phases have at least TWr + 1 floats (the input of a tile's last
// two columns is in the next tile's first two phases), rounded to 8 so that split_row and
// merge_row move whole 16-float blocks.
int64_t phase_floats(const Tiling& t) { return round_up<8>(t.TW) + 8; }
int64_t line_floats_one(const Tiling& t) { return t.m * phase_floats(t); }  // one row buffer

// Floats of the n + 1 input row buffers (the last all zeros), of those plus the m + 1 of the
// output (or output gradient) transform and input_tiles' lane buffer (at the end); zeroed once
// per thread (see the transforms).
int64_t lines_in_floats(const Tiling& t) { return (t.m + 3) * line_floats_one(t); }
int64_t line_floats(const Tiling& t) {
  return lines_in_floats(t) + (t.m + 1) * line_floats_one(t) + (t.m + 2) * (t.m + 2) * 8;
}
float* lane_buffer(const Tiling& t, float* lines) { return lines + line_floats(t) - (t.m + 2) * (t.m + 2) * 8; }

// The 16 floats of v (elements k-major, 16 / m of them for each of m phases) phase-major, and back.
#if defined(__AVX512F__)
// (GCC 12's AVX-512 headers warn at some intrinsics, see cpu/transpose.h)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
template <int M>
inline __m512 to_phases(__m512 v) {
  static_assert(M == 2 || M == 4, "F(2x2) or F(4x4)");
  const __m512i idx = M == 4 ? _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
                             : _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  return _mm512_permutexvar_ps(idx, v);
}
template <int M>
inline __m512 from_phases(__m512 v) {
  const __m512i idx = M == 4 ? _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15)
                             : _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
  return _mm512_permutexvar_ps(idx, v);  // for m = 4 the permutation is its own inverse
}

// The m phases of a phase-major block to (from) row buffer phases Lp apart, in registers: through
// memory, four 16-byte stores read back as one 64-byte load stalled store forwarding, which took
// most of the output transform's time.
template <int M>
inline void store_phases(float* d, int64_t Lp, __m512 v) {
  if constexpr (M == 4) {
    _mm_storeu_ps(d, _mm512_extractf32x4_ps(v, 0));
    _mm_storeu_ps(d + Lp, _mm512_extractf32x4_ps(v, 1));
    _mm_storeu_ps(d + 2 * Lp, _mm512_extractf32x4_ps(v, 2));
    _mm_storeu_ps(d + 3 * Lp, _mm512_extractf32x4_ps(v, 3));
  } else {
    _mm256_storeu_ps(d, _mm512_castps512_ps256(v));
    _mm256_storeu_ps(d + Lp, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
}
template <int M>
inline __m512 load_phases(const float* s, int64_t Lp) {
  if constexpr (M == 4) {
    __m512 v = _mm512_castps128_ps512(_mm_loadu_ps(s));
    v = _mm512_insertf32x4(v, _mm_loadu_ps(s + Lp), 1);
    v = _mm512_insertf32x4(v, _mm_loadu_ps(s + 2 * Lp), 2);
    return _mm512_insertf32x4(v, _mm_loadu_ps(s + 3 * Lp), 3);
  } else {
    const __m512d v = _mm512_castpd256_pd512(_mm256_castps_pd(_mm256_loadu_ps(s)));
    return _mm512_castpd_ps(_mm512_insertf64x4(v, _mm256_castps_pd(_mm256_loadu_ps(s + Lp)), 1));
  }
}
#pragma GCC diagnostic pop
#endif

#if defined(__AVX512F__)
// Lanes [lo, hi) of 16, clamped.
inline __mmask16 lanes_between(int64_t lo, int64_t hi) {
  lo = std::clamp<int64_t>(lo, 0, 16);
  hi = std::clamp<int64_t>(hi, 0, 16);
  return hi <= lo ? __mmask16(0) : __mmask16(((1u << hi) - 1) & ~((1u << lo) - 1));
}
#endif

// The first `need` elements of each phase of the row buffer dst (m phases Lp apart, Lp a multiple
// of 8) of a row whose elements [shift, shift + n) are src and whose others are zero, 16 elements
// at a time: a masked load straight from src (through a zero-padded copy, each 64-byte load of
// the copy spanned two of its stores and stalled store forwarding), permuted phase-major, its m
// parts stored. (Filling whole phases split each 14x14 row four times over where two suffice.)
template <int M>
inline void split_row(float* dst, int64_t Lp, const float* src, int n, int shift, int64_t need) {
  constexpr int K = 16 / M;  // elements of each phase in a block
  for (int64_t k = 0; k < std::min(Lp, need); k += K) {
    const int64_t p0 = M * k;  // the block's first element; element p is src[p - shift]
#if defined(__AVX512F__)
    const __mmask16 in = lanes_between(shift - p0, shift + n - p0);
    store_phases<M>(dst + k, Lp, to_phases<M>(_mm512_maskz_loadu_ps(in, src + (p0 - shift))));
#else
    for (int j = 0; j < K; ++j)
      for (int q = 0; q < M; ++q) {
        const int64_t p = p0 + M * j + q;
        dst[q * Lp + k + j] = p >= shift && p < shift + n ? src[p - shift] : 0.0f;
      }
#endif
  }
}

// dst[x] = element x of the row buffer src (phases Lp apart), x < n, 16 elements at a time.
template <int M>
inline void merge_row(float* dst, const float* src, int64_t Lp, int n) {
  constexpr int K = 16 / M;
  for (int64_t k = 0; M * k < n; k += K) {
    const int64_t p0 = M * k;
#if defined(__AVX512F__)
    _mm512_mask_storeu_ps(dst + p0, lanes_between(0, n - p0), from_phases<M>(load_phases<M>(src + k, Lp)));
#else
    for (int j = 0; j < K; ++j)
      for (int q = 0; q < M; ++q)
        if (p0 + M * j + q < n) dst[p0 + M * j + q] = src[q * Lp + k + j];
#endif
  }
}

// V (n^2, Cin, ldv), positions pstride apart, = B^T d B for the tiles of tile rows [r0, r1) of the
// batch, tile row r's tile tx at column (r - r0) * TW + tx. Each input row is split into a
// zero-padded row buffer, so tile column m tx + j is element m tx + j of the buffer (the input's
// column m tx + j - pw), and rows outside the image read a last buffer of zeros. Consecutive tile
// rows share two input rows, which are kept. lines: line_floats of them.
template <int M, int B>
void transform_input(float* V, int64_t ldv, int64_t pstride, const float* in, const Tiling& t, int64_t r0, int64_t r1,
                     float* lines) {
  constexpr int N = M + 2;
  const int TW = t.TW, TWr = round_up<B>(TW);
  const int64_t Lr = line_floats_one(t), Lp = phase_floats(t), plane = static_cast<int64_t>(t.H) * t.W;
  const float* zero = lines + N * Lr;
  float* tmp = lane_buffer(t, lines);
  float* buf[N];
  for (int i = 0; i < N; ++i) buf[i] = lines + i * Lr;
  const float* R[N];  // the tile row's n input rows: a buffer of buf, or zero
  for (int c = 0; c < t.Cin; ++c) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* src = in + (n * t.Cin + c) * plane;
      auto load = [&](int i) {
        const int h = M * ty - t.ph + i;
        if (h < 0 || h >= t.H) {
          R[i] = zero;
        } else {
          split_row<M>(buf[i], Lp, src + static_cast<int64_t>(h) * t.W, t.W, t.pw, TWr + 1);
          R[i] = buf[i];
        }
      };
      if (r == r0 || ty == 0) {
        for (int i = 0; i < N; ++i) load(i);
      } else {  // the last two rows of the previous tile row are the first two of this one
        for (int i = 0; i < 2; ++i) {
          std::swap(buf[i], buf[i + M]);
          R[i] = R[i + M];
        }
        for (int i = 2; i < N; ++i) load(i);
      }
      float* dst = V + static_cast<int64_t>(c) * ldv + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B)
        input_tiles<M, B>(dst + tx0, pstride, [&](int a, int b) { return R[a] + (b % M) * Lp + tx0 + b / M; }, tmp);
    }
  }
}

// out rows of tile rows [r0, r1) = A^T M A [+ bias], M (n^2, Cout, ldm) with positions pstride
// apart. The m output rows of a tile row are assembled in row buffers, then copied out Q wide.
// lines: from lines_in_floats on.
template <int M, int B>
void transform_output(float* out, const float* Mt, int64_t ldm, int64_t pstride, const float* bias, const Tiling& t,
                      int64_t r0, int64_t r1, float* lines) {
  const int TW = t.TW, TWr = round_up<B>(TW), Q = t.Q;
  const int64_t Lr = line_floats_one(t), Lp = phase_floats(t);
  float* y = lines;  // output row M ty + i at y + i * Lr
  for (int k = 0; k < t.Cout; ++k) {
    const float b = bias ? bias[k] : 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* m = Mt + static_cast<int64_t>(k) * ldm + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B)
        output_tiles<M, B>(m + tx0, pstride, b,
                           [&](int l, int i, int j, float v) { y[i * Lr + j * Lp + tx0 + l] = v; });
      float* dst = out + ((n * t.Cout + k) * t.P + M * ty) * static_cast<int64_t>(Q);
      for (int i = 0; i < M && M * ty + i < t.P; ++i) merge_row<M>(dst + i * Q, y + i * Lr, Lp, Q);
    }
  }
}

// Z (n^2, Cout, ldz), positions pstride apart, = A dY A^T for the m x m tiles of dout
// (N, Cout, P, Q) in tile rows [r0, r1). The m output-gradient rows of a tile row are split into
// row buffers, zero past column Q; rows past P read a last buffer of zeros.
// lines: from lines_in_floats on.
template <int M, int B>
void transform_output_grad(float* Z, int64_t ldz, int64_t pstride, const float* dout, const Tiling& t, int64_t r0,
                           int64_t r1, float* lines) {
  const int TW = t.TW, TWr = round_up<B>(TW);
  const int64_t Lr = line_floats_one(t), Lp = phase_floats(t), plane = static_cast<int64_t>(t.P) * t.Q;
  const float* zero = lines + M * Lr;
  const float* Y[M];
  for (int k = 0; k < t.Cout; ++k) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* src = dout + (n * t.Cout + k) * plane + static_cast<int64_t>(M * ty) * t.Q;
      for (int i = 0; i < M; ++i) {
        if (M * ty + i < t.P) {
          split_row<M>(lines + i * Lr, Lp, src + i * t.Q, t.Q, 0, TWr);
          Y[i] = lines + i * Lr;
        } else {
          Y[i] = zero;
        }
      }
      float* dst = Z + static_cast<int64_t>(k) * ldz + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B)
        output_grad_tiles<M, B>([&](int l, int i, int j) { return Y[i][j * Lp + tx0 + l]; }, dst + tx0, pstride);
    }
  }
}

// The three row-wise transforms at the block width that suits the row length.
template <int M>
void input_rows(float* V, int64_t ldv, int64_t pstride, const float* in, const Tiling& t, int64_t r0, int64_t r1,
                float* lines) {
  if (t.TW <= 4)
    transform_input<M, 4>(V, ldv, pstride, in, t, r0, r1, lines);
  else
    transform_input<M, 8>(V, ldv, pstride, in, t, r0, r1, lines);
}

template <int M>
void output_rows(float* out, const float* Mt, int64_t ldm, int64_t pstride, const float* bias, const Tiling& t,
                 int64_t r0, int64_t r1, float* lines) {
  if (t.TW <= 4)
    transform_output<M, 4>(out, Mt, ldm, pstride, bias, t, r0, r1, lines);
  else
    transform_output<M, 8>(out, Mt, ldm, pstride, bias, t, r0, r1, lines);
}

template <int M>
void output_grad_rows(float* Z, int64_t ldz, int64_t pstride, const float* dout, const Tiling& t, int64_t r0,
                      int64_t r1, float* lines) {
  if (t.TW <= 4)
    transform_output_grad<M, 4>(Z, ldz, pstride, dout, t, r0, r1, lines);
  else
    transform_output_grad<M, 8>(Z, ldz, pstride, dout, t, r0, r1, lines);
}

// U (n^2, Cout, Cin) = G g G^T of every kernel g of weight (K, C, 3, 3): Cout = K, Cin = C as
// stored, or, for the input gradient (rotated), Cout = C, Cin = K and every kernel turned 180
// degrees. The taps are first copied tap-major in U's (row, column) order, taps (9, Cout, Cin),
// so that the transform's loop along U's rows loads and stores unit-stride and vectorises (read
// from the (K, C, 3, 3) weight directly, its loads were 9-float strided and the loop scalar).
template <int M, bool rotated>
void transform_weights(float* U, const float* weight, int K, int C) {
  constexpr int N = M + 2;
  const int rows = rotated ? C : K, cols = rotated ? K : C;
  const int64_t RC = static_cast<int64_t>(rows) * cols;
  Scratch tap_buf(9 * RC);
  float* taps = tap_buf.data();
#pragma omp parallel if (worth_parallel(RC * N * N))
  {
#pragma omp for schedule(static)
    for (int k = 0; k < K; ++k)  // tap e of U's (row, col): the kernel's tap e, or 8 - e turned
      for (int c = 0; c < C; ++c) {
        const float* g = weight + (static_cast<int64_t>(k) * C + c) * 9;
        const int64_t at = rotated ? static_cast<int64_t>(c) * K + k : static_cast<int64_t>(k) * C + c;
        for (int e = 0; e < 9; ++e) taps[e * RC + at] = g[rotated ? 8 - e : e];
      }
#pragma omp for schedule(static)
    for (int row = 0; row < rows; ++row) {
      float* u = U + static_cast<int64_t>(row) * cols;
      const float* g = taps + static_cast<int64_t>(row) * cols;
#pragma GCC ivdep
      for (int col = 0; col < cols; ++col)
        separable<3, N>(
            Wino<M>::weight, [&](int r, int c) { return g[(3 * r + c) * RC + col]; },
            [&](int i, int j, float v) { u[(N * i + j) * RC + col] = v; });
    }
  }
}

// Floats between the n^2 matrices (rows, ld) of a transformed buffer. The transforms touch all of
// them at once, and streams a multiple of 4 KiB apart fall into one L1 set and evict each other
// (transforms ran 3x slower at such sizes), so consecutive matrices are shifted by one cache line.
int64_t pos_stride(int64_t rows, int64_t ld) { return (rows * ld + 1023) / 1024 * 1024 + 16; }

// Target tiles per chunk: as many as keep each GEMM at most 10^6 multiply-adds (Cout * Cin * tiles).
// OpenBLAS runs products up to that size in its small-matrix kernels, which skip packing; just past
// it the packed path ran 15-20% slower at these shapes (64x64 channels: 238 tiles 11.1 ms, 252
// tiles 13.2 ms), and far past it the buffers outgrow the core's L2 cache. F(4x4)'s buffers hold
// 36 positions a tile instead of 16, but chunks of 0.4x the tiles ran no faster (0.99-1.04x).
int64_t chunk_tiles(const Tiling& t) {
  return std::clamp<int64_t>(1000000 / (static_cast<int64_t>(t.Cin) * t.Cout), 16, 512);
}

// ---- two ways to cut a convolution into chunks
//
// RowChunks: chunks of whole tile rows, transformed row by row with the lanes along a row (above).
// That suits images of 8+ tiles per row; on small maps (a 4x4 map has 2 tiles per row) the per-row
// bookkeeping is most of the work: at batch 128 of 4x4 and 8x8 maps the row transforms took a
// quarter of a whole training step. ImageChunks: chunks of whole images, transformed with the
// lanes across the chunk's images. The chunk is first copied batch-last, (C, H, W, images), so
// lane l of every load and store is image l of the chunk and each tile is a handful of full-width
// vector operations whatever the map size; results are copied back from the same layout. A chunk's
// tile columns are ordered (tile of the image, image), which the products do not care about.
//
// Both give: count chunks (a multiple of the threads where there are enough), cap (tile columns
// of a full chunk: the buffers' leading dimension), scratch_floats (per-thread work space beyond
// V and M), and per chunk the input transform, the output transform and the output-gradient
// transform, plus tiles(i), the columns its products cover.

template <int M>
struct RowChunks : Chunks {
  const Tiling& t;

  RowChunks(const Tiling& t, int64_t target) : Chunks(plan_chunks(t, target)), t(t) {}
  int64_t scratch_floats() const { return line_floats(t); }
  void begin(float* work) const { std::memset(work, 0, sizeof(float) * line_floats(t)); }
  int64_t r0(int64_t i) const { return i * rows_per_chunk; }
  int64_t r1(int64_t i) const { return std::min(t.rows(), r0(i) + rows_per_chunk); }
  int64_t tiles(int64_t i) const { return (r1(i) - r0(i)) * t.TW; }
  void input(float* V, int64_t vstride, const float* in, int64_t i, float* work) const {
    input_rows<M>(V, cap, vstride, in, t, r0(i), r1(i), work);
  }
  void output(float* out, const float* Mt, int64_t mstride, const float* bias, int64_t i, float* work) const {
    output_rows<M>(out, Mt, cap, mstride, bias, t, r0(i), r1(i), work + lines_in_floats(t));
  }
  void output_grad(float* Z, int64_t zstride, const float* dout, int64_t i, float* work) const {
    output_grad_rows<M>(Z, cap, zstride, dout, t, r0(i), r1(i), work + lines_in_floats(t));
  }
};

// x (rows, per) = the first cnt rows of src (cnt, rows) transposed; lanes cnt.. of each row are zero.
void to_batch_last(float* x, const float* src, int64_t rows, int64_t cnt, int64_t per) {
  transpose(x, per, src, rows, cnt, rows);
  if (cnt < per)
    for (int64_t e = 0; e < rows; ++e) std::memset(x + e * per + cnt, 0, sizeof(float) * (per - cnt));
}

// dst (cnt, rows) = lanes [0, cnt) of x (rows, per) transposed back.
void from_batch_last(float* dst, const float* x, int64_t rows, int64_t cnt, int64_t per) {
  transpose(dst, rows, x, per, rows, cnt);
}

constexpr int kLanes = 8;  // images per block of lanes in ImageChunks: a chunk holds whole blocks

template <int M>
struct ImageChunks {
  static constexpr int N = M + 2;
  const Tiling& t;
  int64_t per, count, cap;  // images per chunk (lanes, whole blocks), chunks, tile columns per chunk
  int threads;
  int64_t img_tiles;

  ImageChunks(const Tiling& t, int64_t target) : t(t), img_tiles(static_cast<int64_t>(t.TH) * t.TW) {
    const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    per = std::max<int64_t>(1, target / img_tiles);
    count = (t.N + per - 1) / per;
    count = std::min<int64_t>(t.N, (count + T - 1) / T * T);
    per = round_up<kLanes>(static_cast<int>((t.N + count - 1) / count));
    count = (t.N + per - 1) / per;
    threads = static_cast<int>(std::min<int64_t>(T, count));
    cap = img_tiles * per;
  }
  int64_t in_floats() const { return static_cast<int64_t>(t.Cin) * t.H * t.W * per; }
  int64_t out_floats() const { return static_cast<int64_t>(t.Cout) * t.P * t.Q * per; }
  // the batch-last input, the batch-last output (or output gradient), a block of zero lanes, and
  // input_tiles' lane buffer
  int64_t scratch_floats() const { return in_floats() + out_floats() + kLanes + N * N * kLanes; }
  void begin(float* work) const { std::memset(work + in_floats() + out_floats(), 0, sizeof(float) * kLanes); }
  int64_t n0(int64_t i) const { return i * per; }
  int64_t images(int64_t i) const { return std::min<int64_t>(per, t.N - n0(i)); }
  int64_t tiles(int64_t) const { return cap; }  // lanes past a short last chunk are zero images

  // V (n^2, Cin, cap) = B^T d B of every tile of the chunk's images.
  void input(float* V, int64_t vstride, const float* in, int64_t i, float* work) const {
    const int64_t plane = static_cast<int64_t>(t.H) * t.W, CHW = t.Cin * plane;
    float* X = work;  // (Cin, H, W, per)
    const float* zero = work + in_floats() + out_floats();
    float* tmp = work + in_floats() + out_floats() + kLanes;
    to_batch_last(X, in + n0(i) * CHW, CHW, images(i), per);
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        // the tile's inputs at channel 0, and how far each moves per channel (0: padding)
        const float* d[N * N];
        int64_t step[N * N];
        for (int a = 0; a < N; ++a)
          for (int b = 0; b < N; ++b) {
            const int h = M * ty - t.ph + a, w = M * tx - t.pw + b;
            const bool inside = h >= 0 && h < t.H && w >= 0 && w < t.W;
            d[N * a + b] = inside ? X + (static_cast<int64_t>(h) * t.W + w) * per : zero;
            step[N * a + b] = inside ? plane * per : 0;
          }
        float* dst = V + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int c = 0; c < t.Cin; ++c) {
          float* o = dst + static_cast<int64_t>(c) * cap;
          for (int64_t l0 = 0; l0 < per; l0 += kLanes)
            input_tiles<M, kLanes>(
                o + l0, vstride, [&](int a, int b) { return d[N * a + b] + (step[N * a + b] ? l0 : 0); }, tmp);
          for (int k = 0; k < N * N; ++k) d[k] += step[k];
        }
      }
  }

  // For tile (ty, tx) of a (Cout, P, Q, per) map X: out[M r + c] = the lanes of its pixel (r, c)
  // at channel 0, or `none` (a block of lanes) where the pixel is past the map's edge, and step[]
  // how far each moves per channel (0 for none).
  template <typename T>  // float (outputs) or const float (output gradients)
  void tile_pixels(T* X, T* none, int ty, int tx, T** at, int64_t* step) const {
    const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
    for (int r = 0; r < M; ++r)
      for (int c = 0; c < M; ++c) {
        const int p = M * ty + r, q = M * tx + c;
        const bool inside = p < t.P && q < t.Q;
        at[M * r + c] = inside ? X + (static_cast<int64_t>(p) * t.Q + q) * per : none;
        step[M * r + c] = inside ? plane * per : 0;
      }
  }

  // The chunk's images of out (N, Cout, P, Q) = A^T M A [+ bias], M (n^2, Cout, cap). Outputs past
  // the map's edge go to a sink block of lanes.
  void output(float* out, const float* Mt, int64_t mstride, const float* bias, int64_t i, float* work) const {
    float* Y = work + in_floats();                             // (Cout, P, Q, per)
    float* sink = work + in_floats() + out_floats() + kLanes;  // input's lane buffer, free here
    const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        float* at[M * M];
        int64_t step[M * M];
        tile_pixels(Y, sink, ty, tx, at, step);
        const float* src = Mt + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int k = 0; k < t.Cout; ++k) {
          const float* m = src + static_cast<int64_t>(k) * cap;
          const float b = bias ? bias[k] : 0.0f;
          for (int64_t l0 = 0; l0 < per; l0 += kLanes) {
            float* y[M * M];
            for (int e = 0; e < M * M; ++e) y[e] = at[e] + (step[e] ? k * step[e] + l0 : 0);
            output_tiles<M, kLanes>(m + l0, mstride, b, [&](int l, int r, int c, float v) { y[M * r + c][l] = v; });
          }
        }
      }
    from_batch_last(out + n0(i) * t.Cout * plane, Y, t.Cout * plane, images(i), per);
  }

  // Z (n^2, Cout, cap) = A dY A^T of every m x m tile of the chunk's images of dout (N, Cout, P, Q).
  void output_grad(float* Z, int64_t zstride, const float* dout, int64_t i, float* work) const {
    float* D = work + in_floats();  // (Cout, P, Q, per)
    const float* zero = work + in_floats() + out_floats();
    const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
    to_batch_last(D, dout + n0(i) * t.Cout * plane, t.Cout * plane, images(i), per);
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        const float* at[M * M];
        int64_t step[M * M];
        tile_pixels<const float>(D, zero, ty, tx, at, step);
        float* dst = Z + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int k = 0; k < t.Cout; ++k) {
          float* o = dst + static_cast<int64_t>(k) * cap;
          for (int64_t l0 = 0; l0 < per; l0 += kLanes) {
            const float* y[M * M];
            for (int e = 0; e < M * M; ++e) y[e] = at[e] + (step[e] ? k * step[e] + l0 : 0);
            output_grad_tiles<M, kLanes>([&](int l, int r, int c) { return y[M * r + c][l]; }, o + l0, zstride);
          }
        }
      }
  }
};

// Image chunks where rows are short and there are images enough to fill the lanes; row chunks
// otherwise. Short is at most 4 F(2x2) tiles (maps up to 8 wide) but 2 F(4x4) tiles: a chunk
// holds at least 8 images, whose F(4x4) buffers at 4 tiles a row (a 14x14 map) outgrew the L2
// cache (128 channels: 2.4 MB each for V and M), where row chunks of 4 lanes ran 25% faster.
bool image_lanes(const Tiling& t) { return t.TW <= (t.m == 4 ? 2 : 4) && t.N >= 16; }

// ---- the input transform a forward keeps for its weight gradient: a header naming the plan it was
// made under (tile, chunks, columns per chunk, stride between positions), then chunk i's V
// (n^2, Cin, cap) at kSavedHeader + i * n^2 * vstride. A weight gradient under another plan (the
// thread count changed in between, say) recomputes the transform instead.
constexpr int64_t kSavedHeader = 4;

// Where chunk i's V starts in the kept transform (for i = the chunk count: its size).
int64_t saved_chunk(int64_t i, int64_t vsize) { return kSavedHeader + i * vsize; }

template <typename Plan>
void saved_header(float* h, int m, const Plan& ch, int64_t vstride) {
  const int64_t v[kSavedHeader] = {m, ch.count, ch.cap, vstride};
  for (int64_t k = 0; k < kSavedHeader; ++k) h[k] = static_cast<float>(v[k]);  // exact: all below 2^24
}

template <typename Plan>
bool saved_matches(const float* h, int m, const Plan& ch, int64_t vstride) {
  float want[kSavedHeader];
  saved_header(want, m, ch, vstride);
  return std::equal(want, want + kSavedHeader, h);
}

// out (N, Cout, P, Q) = correlation of in with the kernels whose transforms are U (n^2, Cout, Cin).
// saved: null, or where to keep the input transform (see kSavedHeader).
template <int M, typename Plan>
void winograd_conv(float* out, const float* in, const float* U, const float* bias, const Tiling& t, float* saved) {
  constexpr int kPos = (M + 2) * (M + 2);
  const Plan ch(t, chunk_tiles(t));
  const int64_t vstride = pos_stride(t.Cin, ch.cap), mstride = pos_stride(t.Cout, ch.cap);
  const int64_t vsize = kPos * vstride, msize = kPos * mstride, wsize = ch.scratch_floats();
  const int64_t own_v = saved ? 0 : vsize;  // V in the thread's scratch, or in `saved`
  const int64_t per_thread = own_v + msize + wsize;
  check_blas_sizes({t.Cout, t.Cin, ch.cap});  // before the region: an exception must not leave it
  if (saved) saved_header(saved, M, ch, vstride);
  Scratch buf(ch.threads * per_thread);
#pragma omp parallel num_threads(ch.threads)
  {
    float* mine = buf.data() + omp_get_thread_num() * per_thread;
    float* Mt = mine + own_v;  // (n^2, Cout, cap)
    float* work = Mt + msize;
    ch.begin(work);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < ch.count; ++i) {
      const int64_t tiles = ch.tiles(i);
      float* V = saved ? saved + saved_chunk(i, vsize) : mine;  // (n^2, Cin, cap)
      ch.input(V, vstride, in, i, work);
      for (int p = 0; p < kPos; ++p)
        gemm(false, false, t.Cout, tiles, t.Cin, 1.0f, U + p * static_cast<int64_t>(t.Cout) * t.Cin, t.Cin,
             V + p * vstride, ch.cap, 0.0f, Mt + p * mstride, ch.cap);
      ch.output(out, Mt, mstride, bias, i, work);
    }
  }
}

// saved: see winograd_saved_floats (only image chunks keep the transform).
template <int M>
void winograd_conv(float* out, const float* in, const float* U, const float* bias, const Tiling& t, float* saved) {
  if (image_lanes(t))
    winograd_conv<M, ImageChunks<M>>(out, in, U, bias, t, saved);
  else
    winograd_conv<M, RowChunks<M>>(out, in, U, bias, t, nullptr);
}

// dweight (K, C, 3, 3) = G^T dU G with dU[pos] (K, C) = sum over tiles of Z[pos] @ V[pos]^T.
// saved: the forward's input transform, or null (see kSavedHeader).
template <int M, typename Plan>
void winograd_weight_grad(float* dweight, const float* dout, const float* inp, const Tiling& t, const float* saved) {
  constexpr int N = M + 2, kPos = N * N;
  const Plan ch(t, chunk_tiles(t));
  const int K = t.Cout, C = t.Cin;
  const int64_t KC = static_cast<int64_t>(K) * C, ustride = pos_stride(K, C), usize = kPos * ustride;
  const int64_t vstride = pos_stride(C, ch.cap), zstride = pos_stride(K, ch.cap);
  const int64_t vsize = kPos * vstride, zsize = kPos * zstride, wsize = ch.scratch_floats();
  if (saved && !saved_matches(saved, M, ch, vstride)) saved = nullptr;
  const int64_t own_v = saved ? 0 : vsize;
  // One position's V transposed, (cap, C), so each product is Z V^T as a plain (K, tiles) x
  // (tiles, C) product: OpenBLAS runs that in its small-matrix kernel, but the transposed form
  // through its packed kernel, which packs both operands (fmnist: 15% of the step's CPU time in
  // the packed kernel, 4% packing; after, 10% in the small kernel and 1% transposing).
  const int64_t vtsize = ch.cap * C;
  const int64_t per_thread = usize + own_v + zsize + wsize + vtsize;
  check_blas_sizes({K, C, ch.cap});
  Scratch buf(ch.threads * per_thread);
#pragma omp parallel num_threads(ch.threads)
  {
    float* dU = buf.data() + omp_get_thread_num() * per_thread;  // (n^2, K, C), this thread's sum
    float* mine = dU + usize;
    float* Z = mine + own_v;  // (n^2, K, cap)
    float* work = Z + zsize;
    float* Vt = work + wsize;  // (cap, C)
    ch.begin(work);
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < ch.count; ++i) {
      const int64_t tiles = ch.tiles(i);
      const float* V = saved ? saved + saved_chunk(i, vsize) : mine;  // (n^2, C, cap)
      if (!saved) ch.input(mine, vstride, inp, i, work);
      ch.output_grad(Z, zstride, dout, i, work);
      for (int p = 0; p < kPos; ++p) {
        transpose(Vt, C, V + p * vstride, ch.cap, C, tiles);
        gemm(false, false, K, C, tiles, 1.0f, Z + p * zstride, ch.cap, Vt, C, first ? 0.0f : 1.0f, dU + p * ustride, C);
      }
      first = false;
    }
    if (first) fill_f32(dU, 0.0f, usize);  // this thread had no chunk
#pragma omp barrier
    // dW = G^T (sum over threads of dU) G, one (k, c) kernel at a time
#pragma omp for schedule(static)
    for (int64_t kc = 0; kc < KC; ++kc) {
      float s[N][N];
#pragma GCC unroll 36
      for (int p = 0; p < kPos; ++p) {
        float v = 0.0f;
        for (int u = 0; u < ch.threads; ++u) v += buf.data()[u * per_thread + p * ustride + kc];
        s[p / N][p % N] = v;
      }
      float* dw = dweight + kc * 9;
      separable<N, 3>(
          Wino<M>::weight_adj, [&](int i, int j) { return s[i][j]; },
          [&](int r, int c, float v) { dw[3 * r + c] = v; });
    }
  }
}

Tiling forward_tiling(int m, const Conv2dGeometry& g) {
  return make_tiling(m, g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.pad_h, g.pad_w);
}

template <int M>
void forward_tiles(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g,
                   float* saved) {
  Scratch U(static_cast<int64_t>(M + 2) * (M + 2) * g.K * g.C);  // (n^2, K, C)
  transform_weights<M, false>(U.data(), weight, g.K, g.C);
  winograd_conv<M>(out, inp, U.data(), bias, forward_tiling(M, g), saved);
}

// The header and the image chunks' V, or 0 for row chunks.
template <int M>
int64_t saved_floats(const Conv2dGeometry& g) {
  const Tiling t = forward_tiling(M, g);
  if (!image_lanes(t)) return 0;
  const ImageChunks<M> ch(t, chunk_tiles(t));
  return saved_chunk(ch.count, (M + 2) * (M + 2) * pos_stride(t.Cin, ch.cap));
}

template <int M>
void backward_input_tiles(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g) {
  Scratch U(static_cast<int64_t>(M + 2) * (M + 2) * g.K * g.C);  // (n^2, C, K)
  transform_weights<M, true>(U.data(), weight, g.K, g.C);
  winograd_conv<M>(dinp, dout, U.data(), nullptr,
                   make_tiling(M, g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - g.pad_h, 2 - g.pad_w), nullptr);
}

template <int M>
void backward_weight_tiles(float* dweight, const float* dout, const float* inp, const Conv2dGeometry& g,
                           const float* saved) {
  const Tiling t = forward_tiling(M, g);
  if (image_lanes(t))
    winograd_weight_grad<M, ImageChunks<M>>(dweight, dout, inp, t, saved);
  else
    winograd_weight_grad<M, RowChunks<M>>(dweight, dout, inp, t, nullptr);
}

// Output tiles of the whole batch for tile size m, where a convolution of (h, w) outputs.
int64_t batch_tiles(int64_t n, int h, int w, int m) { return n * ((h + m - 1) / m) * ((w + m - 1) / m); }

}  // namespace

bool winograd_supported(const Conv2dGeometry& g) {
  return g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h >= 0 && g.pad_h <= 2 && g.pad_w >= 0 &&
         g.pad_w <= 2 && g.P > 0 && g.Q > 0;
}

// F(4x4) where its products (36 per 4x4 tile) take at most 0.6x F(2x2)'s (16 per 2x2 tile): maps
// of 4k or 4k - 1 pixels a side, 28x28, 8x8, 7x7 and 4x4 among the U-Nets' (0.56x). Measured at
// batch 32 (2 threads, forward+backward, F(4x4) / F(2x2) time): 64 -> 64 channels on 28x28 0.69x,
// 192 -> 64 on 28x28 0.70x, 128 -> 128 on 7x7 0.72x; but on 14x14, where 4x4 tiles cover 16x16
// (0.73x the products), 0.80-0.91x forward+backward (64-256 -> 128 channels, since the 4-lane
// transforms vectorise; 0.83-0.99x before), under 2% of the fmnist step: too little to pay for
// F(4x4)'s larger rounding error. Not in bf16 mode
// (see the top of this file); the switch (set_cpu_winograd_tile) overrides both. For the input
// gradient the tiles are those of the input, which it outputs.
int winograd_tile(int64_t n, int h, int w) {
  if (const int forced = cpu_winograd_tile()) return forced;
  if (matmul_bf16()) return 2;
  const int64_t f2 = 16 * batch_tiles(n, h, w, 2), f4 = 36 * batch_tiles(n, h, w, 4);
  return 5 * f4 <= 3 * f2 ? 4 : 2;
}

// When Winograd beats im2col + GEMM, measured (2 threads, CPU time, this repository's bench of
// forward / input gradient / weight gradient against the im2col path) on shapes from 1 to 256
// channels, 2x2 to 28x28 images, batch 1 to 32, with F(2x2) tiles. Winograd's fixed costs are
// the kernel transform (16 * K * C) and, for the weight gradient, the per-thread (16, K, C) sums
// and their inverse transform; its products have the convolution's input channels as their depth,
// which is too shallow below a few channels. T counts the 2x2 output tiles of the whole batch.
//  - forward: at least 4 input channels (1 channel: 1.2x slower than im2col; 2-3: a wash) and
//    8 tiles. Above that it took 0.2-0.8x the im2col time; 0.45-0.5x at the U-Net's sizes.
//  - input gradient: its products are C deep, so at least 8 channels of the input (C = 1-4 ran
//    1.1-2.5x slower), and 8 tiles (a 256-channel conv over 4 tiles ran 1.2-2.5x slower).
//  - weight gradient: at least 4 input channels and 64 tiles, where the per-tile work covers the
//    fixed costs (16 tiles: 1.3-2x slower; 64: 0.86-1.03x; the U-Net's 512+ tiles: 0.55-0.65x).
ConvAlgo conv2d_forward_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 4 && batch_tiles(g.N, g.P, g.Q, 2) >= 8 ? ConvAlgo::Winograd
                                                                                 : ConvAlgo::Im2col;
}

ConvAlgo conv2d_backward_input_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 8 && batch_tiles(g.N, g.P, g.Q, 2) >= 8 ? ConvAlgo::Winograd
                                                                                 : ConvAlgo::Im2col;
}

ConvAlgo conv2d_backward_weight_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 4 && batch_tiles(g.N, g.P, g.Q, 2) >= 64 ? ConvAlgo::Winograd
                                                                                  : ConvAlgo::Im2col;
}

int64_t winograd_saved_floats(const Conv2dGeometry& g, int tile) {
  return tile == 4 ? saved_floats<4>(g) : saved_floats<2>(g);
}

void winograd_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g,
                      int tile, float* saved) {
  if (tile == 4)
    forward_tiles<4>(out, inp, weight, bias, g, saved);
  else
    forward_tiles<2>(out, inp, weight, bias, g, saved);
}

void winograd_backward_input(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g, int tile) {
  if (tile == 4)
    backward_input_tiles<4>(dinp, dout, weight, g);
  else
    backward_input_tiles<2>(dinp, dout, weight, g);
}

void winograd_backward_weight(float* dweight, const float* dout, const float* inp, const Conv2dGeometry& g, int tile,
                              const float* saved) {
  if (tile == 4)
    backward_weight_tiles<4>(dweight, dout, inp, g, saved);
  else
    backward_weight_tiles<2>(dweight, dout, inp, g, saved);
}

}  // namespace md::cpu
