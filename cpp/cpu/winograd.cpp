// Winograd F(2x2, 3x3) for stride-1 3x3 convolutions (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016). Each 2x2 output tile is Y = A^T [U (.) V] A with
// U = G g G^T (the 4x4 transformed kernel) and V = B^T d B (the transformed 4x4 input tile), so
// per output pixel 16/4 = 4 multiplies per channel pair replace im2col's 9. Summed over input
// channels, each of the 16 tile positions becomes a matrix product M[pos] (Cout, tiles) =
// U[pos] (Cout, Cin) @ V[pos] (Cin, tiles).
//
// Work is cut into chunks of whole tile rows (across images, so batch 32 of 7x7 images still gives
// big products); each OpenMP thread takes whole chunks: it transforms the chunk's input into its
// own (16, Cin, tiles) buffer, runs the 16 single-threaded GEMMs into (16, Cout, tiles), and
// transforms those back into the output. A chunk's buffers stay near the core's cache, and the
// threads synchronise once per convolution. The weight gradient is the adjoint of the same
// algorithm: per position dU[pos] (Cout, Cin) += Z[pos] (Cout, tiles) @ V[pos]^T with
// Z = A dY A^T, then dW = G^T dU G.
//
// Float32 error: the F(2x2) transforms only add, subtract and halve, so results stay within the
// im2col path's error. F(4x4, 3x3) would do 1.8x fewer multiplies but scales by up to 8: in a
// float32 simulation its error was 10-20x F(2x2)'s at 16-256 channels, over the 1e-5 tolerance
// of this repository's conv2d tests, so it is not used.
#include "cpu/winograd.h"

#include <algorithm>
#include <cstring>

#include "cpu/common.h"
#include "cpu/transpose.h"
#include "kernels.h"

namespace md::cpu {

namespace {

constexpr int kPos = 16;  // 4x4 positions of a transformed tile

// A stride-1 3x3 correlation out (N, Cout, P, Q) of in (N, Cin, H, W) zero-padded by (ph, pw).
struct Tiling {
  int N, Cin, H, W;
  int Cout, P, Q;
  int ph, pw;
  int TH, TW;  // 2x2 output tiles per image: ceil(P / 2) x ceil(Q / 2)
  int64_t rows() const { return static_cast<int64_t>(N) * TH; }  // tile rows of the whole batch
};

Tiling make_tiling(int N, int Cin, int H, int W, int Cout, int P, int Q, int ph, int pw) {
  return {N, Cin, H, W, Cout, P, Q, ph, pw, (P + 1) / 2, (Q + 1) / 2};
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

// The transforms' inner loops run over the tiles of one tile row in blocks of B lanes (8, or 4 for
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

// Floats of the row buffers of the input transform, and of those plus the output (or output
// gradient) transform's; zeroed once per thread (see the transforms).
int64_t lines_in_floats(const Tiling& t) { return 5 * (2 * round_up<8>(t.TW) + 2); }
int64_t line_floats(const Tiling& t) { return lines_in_floats(t) + 3 * 2 * round_up<8>(t.TW); }

// dst[i] = src[i], i < n: an inline loop, as the rows here are too short to pay for a call to memcpy.
inline void copy_row(float* dst, const float* src, int n) {
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

// V (16, Cin, ldv), positions pstride apart, = B^T d B for the tiles of tile rows [r0, r1) of the
// batch, tile row r's tile tx at column (r - r0) * TW + tx. Each input row is copied into a
// zero-padded row buffer, so tile column 2 tx + j is element 2 tx + j of the buffer; only the
// middle [pw, pw + W) of a buffer is ever written, so its padding stays zero, and rows outside the
// image read a fifth buffer of zeros. Consecutive tile rows share two input rows, which are kept.
// lines: the first 5 * (2 * TWr + 2) floats of line_floats.
template <int B>
void transform_input(float* V, int64_t ldv, int64_t pstride, const float* in, const Tiling& t, int64_t r0, int64_t r1,
                     float* lines) {
  const int TW = t.TW, TWr = round_up<B>(TW), Lr = 2 * TWr + 2;
  const int64_t plane = static_cast<int64_t>(t.H) * t.W;
  const float* zero = lines + 4 * Lr;
  float* buf[4] = {lines, lines + Lr, lines + 2 * Lr, lines + 3 * Lr};
  const float* R[4];  // the tile row's 4 input rows: a buffer of buf, or zero
  for (int c = 0; c < t.Cin; ++c) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* src = in + (n * t.Cin + c) * plane;
      auto load = [&](int i) {
        const int h = 2 * ty - t.ph + i;
        if (h < 0 || h >= t.H) {
          R[i] = zero;
        } else {
          copy_row(buf[i] + t.pw, src + static_cast<int64_t>(h) * t.W, t.W);
          R[i] = buf[i];
        }
      };
      if (r == r0 || ty == 0) {
        for (int i = 0; i < 4; ++i) load(i);
      } else {  // rows 2 and 3 of the previous tile row are rows 0 and 1 of this one
        std::swap(buf[0], buf[2]);
        std::swap(buf[1], buf[3]);
        R[0] = R[2];
        R[1] = R[3];
        load(2);
        load(3);
      }
      const float *R0 = R[0], *R1 = R[1], *R2 = R[2], *R3 = R[3];
      float* dst = V + static_cast<int64_t>(c) * ldv + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B) {
#pragma omp simd
        for (int l = 0; l < B; ++l) {
          const int x = 2 * (tx0 + l);
          // B^T d: combine the tile's 4 rows, column by column
          float u[4][4];
          for (int j = 0; j < 4; ++j) {
            const float d0 = R0[x + j], d1 = R1[x + j], d2 = R2[x + j], d3 = R3[x + j];
            u[0][j] = d0 - d2;
            u[1][j] = d1 + d2;
            u[2][j] = d2 - d1;
            u[3][j] = d1 - d3;
          }
          // (B^T d) B: then the columns of each row
          float* o = dst + tx0 + l;
          for (int i = 0; i < 4; ++i) {
            o[(4 * i + 0) * pstride] = u[i][0] - u[i][2];
            o[(4 * i + 1) * pstride] = u[i][1] + u[i][2];
            o[(4 * i + 2) * pstride] = u[i][2] - u[i][1];
            o[(4 * i + 3) * pstride] = u[i][1] - u[i][3];
          }
        }
      }
    }
  }
}

// The per-tile arithmetic of the output transforms, shared by the row-wise (RowChunks) and the
// image-wise (ImageChunks) paths, which differ only in where a tile's values live.
//
// A^T m A + b of one transformed tile, m(p) its value at position p = 4 row + column: the 2x2
// outputs y00, y01 (top row) and y10, y11.
template <typename Tile>
inline void output_tile(Tile m, float b, float& y00, float& y01, float& y10, float& y11) {
  float s[4][2];  // M A: each row's 4 columns folded to 2
  for (int i = 0; i < 4; ++i) {
    const float m0 = m(4 * i), m1 = m(4 * i + 1), m2 = m(4 * i + 2), m3 = m(4 * i + 3);
    s[i][0] = m0 + m1 + m2;
    s[i][1] = m1 - m2 - m3;
  }
  y00 = s[0][0] + s[1][0] + s[2][0] + b;
  y01 = s[0][1] + s[1][1] + s[2][1] + b;
  y10 = s[1][0] - s[2][0] - s[3][0] + b;
  y11 = s[1][1] - s[2][1] - s[3][1] + b;
}

// A dY A^T of one 2x2 output-gradient tile: z(p, value) for its 16 positions p.
template <typename Store>
inline void output_grad_tile(float y00, float y01, float y10, float y11, Store z) {
  // A dY: rows (y0, y0 + y1, y0 - y1, -y1), each an (even, odd) column pair
  const float w[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
  for (int i = 0; i < 4; ++i) {  // (A dY) A^T
    z(4 * i + 0, w[i][0]);
    z(4 * i + 1, w[i][0] + w[i][1]);
    z(4 * i + 2, w[i][0] - w[i][1]);
    z(4 * i + 3, -w[i][1]);
  }
}

// out rows of tile rows [r0, r1) = A^T M A [+ bias], M (16, Cout, ldm) with positions pstride
// apart. Both output rows of a tile row are assembled in row buffers, then copied out Q wide.
// lines: 2 * 2 * TWr floats.
template <int B>
void transform_output(float* out, const float* M, int64_t ldm, int64_t pstride, const float* bias, const Tiling& t,
                      int64_t r0, int64_t r1, float* lines) {
  const int TW = t.TW, TWr = round_up<B>(TW), Q = t.Q;
  float* y0 = lines;            // output row 2 ty
  float* y1 = lines + 2 * TWr;  // output row 2 ty + 1
  for (int k = 0; k < t.Cout; ++k) {
    const float b = bias ? bias[k] : 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* m = M + static_cast<int64_t>(k) * ldm + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B) {
#pragma omp simd
        for (int l = 0; l < B; ++l) {
          const int tx = tx0 + l;
          output_tile([&](int p) { return m[p * pstride + tx]; }, b, y0[2 * tx], y0[2 * tx + 1], y1[2 * tx],
                      y1[2 * tx + 1]);
        }
      }
      float* dst = out + ((n * t.Cout + k) * t.P + 2 * ty) * static_cast<int64_t>(Q);
      copy_row(dst, y0, Q);
      if (2 * ty + 1 < t.P) copy_row(dst + Q, y1, Q);
    }
  }
}

// Z (16, Cout, ldz), positions pstride apart, = A dY A^T for the 2x2 tiles of dout (N, Cout, P, Q)
// in tile rows [r0, r1). The two output-gradient rows of a tile row are copied into row buffers
// whose columns past Q stay zero; a missing last row reads a third buffer of zeros.
// lines: 3 * 2 * TWr floats.
template <int B>
void transform_output_grad(float* Z, int64_t ldz, int64_t pstride, const float* dout, const Tiling& t, int64_t r0,
                           int64_t r1, float* lines) {
  const int TW = t.TW, TWr = round_up<B>(TW), Lr = 2 * TWr;
  const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
  float* Y0 = lines;
  const float* zero = lines + 2 * Lr;
  for (int k = 0; k < t.Cout; ++k) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / t.TH;
      const int ty = static_cast<int>(r % t.TH);
      const float* src = dout + (n * t.Cout + k) * plane + static_cast<int64_t>(2 * ty) * t.Q;
      copy_row(Y0, src, t.Q);
      const float* Y1 = zero;
      if (2 * ty + 1 < t.P) {
        copy_row(lines + Lr, src + t.Q, t.Q);
        Y1 = lines + Lr;
      }
      float* dst = Z + static_cast<int64_t>(k) * ldz + (r - r0) * TW;
      for (int tx0 = 0; tx0 < TWr; tx0 += B) {
#pragma omp simd
        for (int l = 0; l < B; ++l) {
          const int x = 2 * (tx0 + l);
          float* o = dst + tx0 + l;
          output_grad_tile(Y0[x], Y0[x + 1], Y1[x], Y1[x + 1], [&](int p, float v) { o[p * pstride] = v; });
        }
      }
    }
  }
}

// The three transforms at the block width that suits the row length.
void input_tiles(float* V, int64_t ldv, int64_t pstride, const float* in, const Tiling& t, int64_t r0, int64_t r1,
                 float* lines) {
  if (t.TW <= 4)
    transform_input<4>(V, ldv, pstride, in, t, r0, r1, lines);
  else
    transform_input<8>(V, ldv, pstride, in, t, r0, r1, lines);
}

void output_tiles(float* out, const float* M, int64_t ldm, int64_t pstride, const float* bias, const Tiling& t,
                  int64_t r0, int64_t r1, float* lines) {
  if (t.TW <= 4)
    transform_output<4>(out, M, ldm, pstride, bias, t, r0, r1, lines);
  else
    transform_output<8>(out, M, ldm, pstride, bias, t, r0, r1, lines);
}

void output_grad_tiles(float* Z, int64_t ldz, int64_t pstride, const float* dout, const Tiling& t, int64_t r0,
                       int64_t r1, float* lines) {
  if (t.TW <= 4)
    transform_output_grad<4>(Z, ldz, pstride, dout, t, r0, r1, lines);
  else
    transform_output_grad<8>(Z, ldz, pstride, dout, t, r0, r1, lines);
}

// U (16, Cout, Cin) = G g G^T of every kernel g of weight (K, C, 3, 3): Cout = K, Cin = C as stored,
// or, for the input gradient (rotated), Cout = C, Cin = K and every kernel turned 180 degrees. The
// inner loop runs along U's rows so its 16 stores are unit-stride and vectorise.
void transform_weights(float* U, const float* weight, int K, int C, bool rotated) {
  const int rows = rotated ? C : K, cols = rotated ? K : C;
  const int64_t RC = static_cast<int64_t>(rows) * cols;
  const int64_t row_step = rotated ? 9 : 9 * static_cast<int64_t>(C),
                col_step = rotated ? 9 * static_cast<int64_t>(C) : 9;
  // tap (r, s) of the kernel as used: rotation reads tap (2 - r, 2 - s)
  int tap[9];
  for (int e = 0; e < 9; ++e) tap[e] = rotated ? 8 - e : e;
#pragma omp parallel for if (worth_parallel(RC * kPos)) schedule(static)
  for (int row = 0; row < rows; ++row) {
    float* u = U + static_cast<int64_t>(row) * cols;
    const float* w = weight + row * row_step;
#pragma omp simd
    for (int col = 0; col < cols; ++col) {
      const float* g = w + col * col_step;
      float a[4][3];  // G g
      for (int s = 0; s < 3; ++s) {
        const float g0 = g[tap[s]], g1 = g[tap[3 + s]], g2 = g[tap[6 + s]];
        a[0][s] = g0;
        a[1][s] = 0.5f * (g0 + g1 + g2);
        a[2][s] = 0.5f * (g0 - g1 + g2);
        a[3][s] = g2;
      }
      for (int i = 0; i < 4; ++i) {  // (G g) G^T
        u[(4 * i + 0) * RC + col] = a[i][0];
        u[(4 * i + 1) * RC + col] = 0.5f * (a[i][0] + a[i][1] + a[i][2]);
        u[(4 * i + 2) * RC + col] = 0.5f * (a[i][0] - a[i][1] + a[i][2]);
        u[(4 * i + 3) * RC + col] = a[i][2];
      }
    }
  }
}

// Floats between the 16 matrices (rows, ld) of a transformed buffer. The transforms touch all 16
// at once, and 16 streams a multiple of 4 KiB apart fall into one L1 set and evict each other
// (transforms ran 3x slower at such sizes), so consecutive matrices are shifted by one cache line.
int64_t pos_stride(int64_t rows, int64_t ld) { return (rows * ld + 1023) / 1024 * 1024 + 16; }

// Target tiles per chunk: as many as keep each GEMM at most 10^6 multiply-adds (Cout * Cin * tiles).
// OpenBLAS runs products up to that size in its small-matrix kernels, which skip packing; just past
// it the packed path ran 15-20% slower at these shapes (64x64 channels: 238 tiles 11.1 ms, 252
// tiles 13.2 ms), and far past it the buffers outgrow the core's L2 cache.
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

struct RowChunks : Chunks {
  const Tiling& t;

  RowChunks(const Tiling& t, int64_t target) : Chunks(plan_chunks(t, target)), t(t) {}
  int64_t scratch_floats() const { return line_floats(t); }
  void begin(float* work) const { std::memset(work, 0, sizeof(float) * line_floats(t)); }
  int64_t r0(int64_t i) const { return i * rows_per_chunk; }
  int64_t r1(int64_t i) const { return std::min(t.rows(), r0(i) + rows_per_chunk); }
  int64_t tiles(int64_t i) const { return (r1(i) - r0(i)) * t.TW; }
  void input(float* V, int64_t vstride, const float* in, int64_t i, float* work) const {
    input_tiles(V, cap, vstride, in, t, r0(i), r1(i), work);
  }
  void output(float* out, const float* M, int64_t mstride, const float* bias, int64_t i, float* work) const {
    output_tiles(out, M, cap, mstride, bias, t, r0(i), r1(i), work + lines_in_floats(t));
  }
  void output_grad(float* Z, int64_t zstride, const float* dout, int64_t i, float* work) const {
    output_grad_tiles(Z, cap, zstride, dout, t, r0(i), r1(i), work + lines_in_floats(t));
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

// o[0..3] (positions vstride apart, per lanes each) = row (B^T d) B of one tile row of the input
// transform, where that row of B^T d is d[A] + Sign * d[B] (d: the tile's 16 lane pointers).
template <int A, int B, int Sign>
inline void input_row(float* o, int64_t vstride, const float* const* d, int64_t per) {
  const float *a0 = d[4 * A], *a1 = d[4 * A + 1], *a2 = d[4 * A + 2], *a3 = d[4 * A + 3];
  const float *b0 = d[4 * B], *b1 = d[4 * B + 1], *b2 = d[4 * B + 2], *b3 = d[4 * B + 3];
  float *o0 = o, *o1 = o + vstride, *o2 = o + 2 * vstride, *o3 = o + 3 * vstride;
#pragma omp simd
  for (int64_t l = 0; l < per; ++l) {
    const float u0 = a0[l] + Sign * b0[l], u1 = a1[l] + Sign * b1[l];
    const float u2 = a2[l] + Sign * b2[l], u3 = a3[l] + Sign * b3[l];
    o0[l] = u0 - u2;
    o1[l] = u1 + u2;
    o2[l] = u2 - u1;
    o3[l] = u1 - u3;
  }
}

struct ImageChunks {
  const Tiling& t;
  int64_t per, count, cap;  // images per chunk (lanes), chunks, tile columns per chunk
  int threads;
  int64_t img_tiles;

  ImageChunks(const Tiling& t, int64_t target) : t(t), img_tiles(static_cast<int64_t>(t.TH) * t.TW) {
    const int T = omp_in_parallel() ? 1 : omp_get_max_threads();
    per = std::max<int64_t>(1, target / img_tiles);
    count = (t.N + per - 1) / per;
    count = std::min<int64_t>(t.N, (count + T - 1) / T * T);
    per = std::min<int64_t>((((t.N + count - 1) / count) + 7) / 8 * 8, t.N);  // whole vectors of lanes
    count = (t.N + per - 1) / per;
    threads = static_cast<int>(std::min<int64_t>(T, count));
    cap = img_tiles * per;
  }
  int64_t in_floats() const { return static_cast<int64_t>(t.Cin) * t.H * t.W * per; }
  int64_t out_floats() const { return static_cast<int64_t>(t.Cout) * t.P * t.Q * per; }
  // the batch-last input, the batch-last output (or output gradient), a lane vector of zeros
  int64_t scratch_floats() const { return in_floats() + out_floats() + per; }
  void begin(float* work) const { std::memset(work + in_floats() + out_floats(), 0, sizeof(float) * per); }
  int64_t n0(int64_t i) const { return i * per; }
  int64_t images(int64_t i) const { return std::min<int64_t>(per, t.N - n0(i)); }
  int64_t tiles(int64_t) const { return cap; }  // lanes past a short last chunk are zero images

  // V (16, Cin, cap) = B^T d B of every tile of the chunk's images.
  void input(float* V, int64_t vstride, const float* in, int64_t i, float* work) const {
    const int64_t plane = static_cast<int64_t>(t.H) * t.W, CHW = t.Cin * plane;
    float* X = work;  // (Cin, H, W, per)
    const float* zero = work + in_floats() + out_floats();
    to_batch_last(X, in + n0(i) * CHW, CHW, images(i), per);
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        // the tile's 16 inputs at channel 0, and how far each moves per channel (0: padding)
        const float* d[16];
        int64_t step[16];
        for (int a = 0; a < 4; ++a)
          for (int b = 0; b < 4; ++b) {
            const int h = 2 * ty - t.ph + a, w = 2 * tx - t.pw + b;
            const bool inside = h >= 0 && h < t.H && w >= 0 && w < t.W;
            d[4 * a + b] = inside ? X + (static_cast<int64_t>(h) * t.W + w) * per : zero;
            step[4 * a + b] = inside ? plane * per : 0;
          }
        float* dst = V + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int c = 0; c < t.Cin; ++c) {
          float* o = dst + static_cast<int64_t>(c) * cap;
          // row r of B^T d is d[a] + sign * d[b] (rows as in transform_input); each row's four
          // outputs in its own pass, so its 8 inputs and 4 outputs stay in registers (all 16
          // outputs at once spilled their addresses to the stack)
          input_row<0, 2, -1>(o, vstride, d, per);
          input_row<1, 2, 1>(o + 4 * vstride, vstride, d, per);
          input_row<2, 1, -1>(o + 8 * vstride, vstride, d, per);
          input_row<1, 3, -1>(o + 12 * vstride, vstride, d, per);
          for (int k = 0; k < 16; ++k) d[k] += step[k];
        }
      }
  }

  // The chunk's images of out (N, Cout, P, Q) = A^T M A [+ bias], M (16, Cout, cap).
  void output(float* out, const float* M, int64_t mstride, const float* bias, int64_t i, float* work) const {
    float* Y = work + in_floats();  // (Cout, P, Q, per)
    const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        const bool full_h = 2 * ty + 1 < t.P, full_w = 2 * tx + 1 < t.Q;
        const float* src = M + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int k = 0; k < t.Cout; ++k) {
          const float* m = src + static_cast<int64_t>(k) * cap;
          const float b = bias ? bias[k] : 0.0f;
          float* y0 = Y + ((k * plane) + static_cast<int64_t>(2 * ty) * t.Q + 2 * tx) * per;
          float* y1 = y0 + static_cast<int64_t>(t.Q) * per;
#pragma omp simd
          for (int64_t l = 0; l < per; ++l) {
            float y00, y01, y10, y11;
            output_tile([&](int p) { return m[p * mstride + l]; }, b, y00, y01, y10, y11);
            y0[l] = y00;
            if (full_w) y0[per + l] = y01;
            if (full_h) {
              y1[l] = y10;
              if (full_w) y1[per + l] = y11;
            }
          }
        }
      }
    from_batch_last(out + n0(i) * t.Cout * plane, Y, t.Cout * plane, images(i), per);
  }

  // Z (16, Cout, cap) = A dY A^T of every 2x2 tile of the chunk's images of dout (N, Cout, P, Q).
  void output_grad(float* Z, int64_t zstride, const float* dout, int64_t i, float* work) const {
    float* D = work + in_floats();  // (Cout, P, Q, per)
    const float* zero = work + in_floats() + out_floats();
    const int64_t plane = static_cast<int64_t>(t.P) * t.Q;
    to_batch_last(D, dout + n0(i) * t.Cout * plane, t.Cout * plane, images(i), per);
    for (int ty = 0; ty < t.TH; ++ty)
      for (int tx = 0; tx < t.TW; ++tx) {
        const bool full_h = 2 * ty + 1 < t.P, full_w = 2 * tx + 1 < t.Q;
        const int64_t at = (static_cast<int64_t>(2 * ty) * t.Q + 2 * tx) * per;
        float* dst = Z + (static_cast<int64_t>(ty) * t.TW + tx) * per;
        for (int k = 0; k < t.Cout; ++k) {
          const float* Y00 = D + k * plane * per + at;
          const float* Y01 = full_w ? Y00 + per : zero;
          const float* Y10 = full_h ? Y00 + t.Q * per : zero;
          const float* Y11 = full_h && full_w ? Y00 + (t.Q + 1) * per : zero;
          float* o = dst + static_cast<int64_t>(k) * cap;
#pragma omp simd
          for (int64_t l = 0; l < per; ++l)
            output_grad_tile(Y00[l], Y01[l], Y10[l], Y11[l], [&](int p, float v) { o[p * zstride + l] = v; });
        }
      }
  }
};

// Image chunks where rows are short (at most 4 tiles: maps up to 8 wide) and there are images
// enough to fill the lanes; row chunks otherwise.
bool image_lanes(const Tiling& t) { return t.TW <= 4 && t.N >= 16; }

// out (N, Cout, P, Q) = correlation of in with the kernels whose transforms are U (16, Cout, Cin).
template <typename Plan>
void winograd_conv(float* out, const float* in, const float* U, const float* bias, const Tiling& t) {
  const Plan ch(t, chunk_tiles(t));
  const int64_t vstride = pos_stride(t.Cin, ch.cap), mstride = pos_stride(t.Cout, ch.cap);
  const int64_t vsize = kPos * vstride, msize = kPos * mstride, wsize = ch.scratch_floats();
  const int64_t per_thread = vsize + msize + wsize;
  check_blas_sizes({t.Cout, t.Cin, ch.cap});  // before the region: an exception must not leave it
  Scratch buf(ch.threads * per_thread);
#pragma omp parallel num_threads(ch.threads)
  {
    float* V = buf.data() + omp_get_thread_num() * per_thread;  // (16, Cin, cap)
    float* M = V + vsize;                                       // (16, Cout, cap)
    float* work = M + msize;
    ch.begin(work);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < ch.count; ++i) {
      const int64_t tiles = ch.tiles(i);
      ch.input(V, vstride, in, i, work);
      for (int p = 0; p < kPos; ++p)
        gemm(false, false, t.Cout, tiles, t.Cin, 1.0f, U + p * static_cast<int64_t>(t.Cout) * t.Cin, t.Cin,
             V + p * vstride, ch.cap, 0.0f, M + p * mstride, ch.cap);
      ch.output(out, M, mstride, bias, i, work);
    }
  }
}

void winograd_conv(float* out, const float* in, const float* U, const float* bias, const Tiling& t) {
  if (image_lanes(t))
    winograd_conv<ImageChunks>(out, in, U, bias, t);
  else
    winograd_conv<RowChunks>(out, in, U, bias, t);
}

// dweight (K, C, 3, 3) = G^T dU G with dU[pos] (K, C) = sum over tiles of Z[pos] @ V[pos]^T.
template <typename Plan>
void winograd_weight_grad(float* dweight, const float* dout, const float* inp, const Tiling& t) {
  const Plan ch(t, chunk_tiles(t));
  const int K = t.Cout, C = t.Cin;
  const int64_t KC = static_cast<int64_t>(K) * C, ustride = pos_stride(K, C), usize = kPos * ustride;
  const int64_t vstride = pos_stride(C, ch.cap), zstride = pos_stride(K, ch.cap);
  const int64_t vsize = kPos * vstride, zsize = kPos * zstride, wsize = ch.scratch_floats();
  const int64_t per_thread = usize + vsize + zsize + wsize;
  check_blas_sizes({K, C, ch.cap});
  Scratch buf(ch.threads * per_thread);
#pragma omp parallel num_threads(ch.threads)
  {
    float* dU = buf.data() + omp_get_thread_num() * per_thread;  // (16, K, C), this thread's sum
    float* V = dU + usize;                                       // (16, C, cap)
    float* Z = V + vsize;                                        // (16, K, cap)
    float* work = Z + zsize;
    ch.begin(work);
    bool first = true;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < ch.count; ++i) {
      const int64_t tiles = ch.tiles(i);
      ch.input(V, vstride, inp, i, work);
      ch.output_grad(Z, zstride, dout, i, work);
      for (int p = 0; p < kPos; ++p)
        gemm(false, true, K, C, tiles, 1.0f, Z + p * zstride, ch.cap, V + p * vstride, ch.cap, first ? 0.0f : 1.0f,
             dU + p * ustride, C);
      first = false;
    }
    if (first) fill_f32(dU, 0.0f, usize);  // this thread had no chunk
#pragma omp barrier
    // dW = G^T (sum over threads of dU) G, one (k, c) kernel at a time
#pragma omp for schedule(static)
    for (int64_t kc = 0; kc < KC; ++kc) {
      float s[4][4];
      for (int p = 0; p < kPos; ++p) {
        float v = 0.0f;
        for (int u = 0; u < ch.threads; ++u) v += buf.data()[u * per_thread + p * ustride + kc];
        s[p / 4][p % 4] = v;
      }
      float a[3][4];  // G^T S
      for (int j = 0; j < 4; ++j) {
        a[0][j] = s[0][j] + 0.5f * (s[1][j] + s[2][j]);
        a[1][j] = 0.5f * (s[1][j] - s[2][j]);
        a[2][j] = 0.5f * (s[1][j] + s[2][j]) + s[3][j];
      }
      float* dw = dweight + kc * 9;
      for (int r = 0; r < 3; ++r) {  // (G^T S) G
        dw[3 * r + 0] = a[r][0] + 0.5f * (a[r][1] + a[r][2]);
        dw[3 * r + 1] = 0.5f * (a[r][1] - a[r][2]);
        dw[3 * r + 2] = 0.5f * (a[r][1] + a[r][2]) + a[r][3];
      }
    }
  }
}

int64_t batch_tiles(const Conv2dGeometry& g) { return static_cast<int64_t>(g.N) * ((g.P + 1) / 2) * ((g.Q + 1) / 2); }

}  // namespace

bool winograd_supported(const Conv2dGeometry& g) {
  return g.R == 3 && g.S == 3 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h >= 0 && g.pad_h <= 2 && g.pad_w >= 0 &&
         g.pad_w <= 2 && g.P > 0 && g.Q > 0;
}

// When Winograd beats im2col + GEMM, measured (2 threads, CPU time, this repository's bench of
// forward / input gradient / weight gradient against the im2col path) on shapes from 1 to 256
// channels, 2x2 to 28x28 images, batch 1 to 32. Winograd's fixed costs are the kernel transform
// (16 * K * C) and, for the weight gradient, the per-thread (16, K, C) sums and their inverse
// transform; its products have the convolution's input channels as their depth, which is too
// shallow below a few channels. T counts the 2x2 output tiles of the whole batch.
//  - forward: at least 4 input channels (1 channel: 1.2x slower than im2col; 2-3: a wash) and
//    8 tiles. Above that it took 0.2-0.8x the im2col time; 0.45-0.5x at the U-Net's sizes.
//  - input gradient: its products are C deep, so at least 8 channels of the input (C = 1-4 ran
//    1.1-2.5x slower), and 8 tiles (a 256-channel conv over 4 tiles ran 1.2-2.5x slower).
//  - weight gradient: at least 4 input channels and 64 tiles, where the per-tile work covers the
//    fixed costs (16 tiles: 1.3-2x slower; 64: 0.86-1.03x; the U-Net's 512+ tiles: 0.55-0.65x).
ConvAlgo conv2d_forward_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 4 && batch_tiles(g) >= 8 ? ConvAlgo::Winograd : ConvAlgo::Im2col;
}

ConvAlgo conv2d_backward_input_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 8 && batch_tiles(g) >= 8 ? ConvAlgo::Winograd : ConvAlgo::Im2col;
}

ConvAlgo conv2d_backward_weight_algo(const Conv2dGeometry& g) {
  return winograd_supported(g) && g.C >= 4 && batch_tiles(g) >= 64 ? ConvAlgo::Winograd : ConvAlgo::Im2col;
}

void winograd_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g) {
  Scratch U(kPos * static_cast<int64_t>(g.K) * g.C);  // (16, K, C)
  transform_weights(U.data(), weight, g.K, g.C, false);
  winograd_conv(out, inp, U.data(), bias, make_tiling(g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.pad_h, g.pad_w));
}

void winograd_backward_input(float* dinp, const float* dout, const float* weight, const Conv2dGeometry& g) {
  Scratch U(kPos * static_cast<int64_t>(g.K) * g.C);  // (16, C, K)
  transform_weights(U.data(), weight, g.K, g.C, true);
  winograd_conv(dinp, dout, U.data(), nullptr,
                make_tiling(g.N, g.K, g.P, g.Q, g.C, g.H, g.W, 2 - g.pad_h, 2 - g.pad_w));
}

void winograd_backward_weight(float* dweight, const float* dout, const float* inp, const Conv2dGeometry& g) {
  const Tiling t = make_tiling(g.N, g.C, g.H, g.W, g.K, g.P, g.Q, g.pad_h, g.pad_w);
  if (image_lanes(t))
    winograd_weight_grad<ImageChunks>(dweight, dout, inp, t);
  else
    winograd_weight_grad<RowChunks>(dweight, dout, inp, t);
}

}  // namespace md::cpu
