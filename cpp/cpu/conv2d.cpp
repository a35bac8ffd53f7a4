// CPU conv2d. Stride-1 3x3 convolutions go to Winograd F(4x4, 3x3) or F(2x2, 3x3) (cpu/winograd.cpp) wherever
// the rule there says it is faster, per direction (forward, input gradient, weight gradient);
// everything else is im2col + GEMM. The im2col path multiplies groups of images at once when the
// feature map is small (their columns side by side, so a 4x4 map does not make 16-column products),
// and with at least as many groups as threads one OpenMP region runs whole groups per thread
// (im2col into that thread's scratch, then a single-threaded GEMM); otherwise each group's im2col
// and GEMM are split across the threads. One pointwise (1x1, stride 1, unpadded) image skips
// im2col: the input already is the column matrix. im2col and col2im copy row segments on wide
// maps and use per-tap index tables on narrow ones (see ColumnMap).
#include <cstring>
#include <vector>

#include "cpu/common.h"
#include "cpu/winograd.h"
#include "kernels.h"

namespace md::cpu {

namespace {

bool is_pointwise(const Conv2dGeometry& g) {
  return g.R == 1 && g.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Images per GEMM in the im2col path. A small feature map gives tiny per-image products (a 4x4
// map is 16 columns: call overhead dominates), so the columns of several images are laid side by
// side and multiplied at once; from kMinColumns columns per image on, one image per product.
constexpr int64_t kMinColumns = 256;

int64_t images_per_group(const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q;
  if (PQ >= kMinColumns || g.N <= 1) return 1;
  return std::min<int64_t>(g.N, (kMinColumns + PQ - 1) / PQ);
}

// Threads for a loop over groups of images: every thread when each gets at least one group and the
// convolution is big enough to pay for a parallel region, else none (the per-group work is split
// instead, where that pays).
bool parallel_over_groups(const Conv2dGeometry& g, int64_t groups) {
  const int T = omp_get_max_threads();
  const double flops = 2.0 * g.N * g.K * g.P * g.Q * g.C * g.R * g.S;
  return T > 1 && groups >= T && !omp_in_parallel() && flops >= (1 << 22);
}

// col rows (C*R*S of them, P*Q entries each, ld apart) from one image inp (C, H, W).
void im2col_rows(float* col, int64_t ld, const float* inp, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q;
#pragma omp parallel for collapse(2) if (worth_parallel(static_cast<int64_t>(g.C) * g.R * g.S * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    for (int rs = 0; rs < g.R * g.S; ++rs) {
      const int r = rs / g.S, s = rs % g.S;
      float* dst = col + (static_cast<int64_t>(c) * g.R * g.S + rs) * ld;
      const float* src = inp + static_cast<int64_t>(c) * g.H * g.W;
      for (int p = 0; p < g.P; ++p) {
        const int h = p * g.stride_h - g.pad_h + r;
        float* row = dst + static_cast<int64_t>(p) * g.Q;
        if (h < 0 || h >= g.H) {
          std::memset(row, 0, sizeof(float) * g.Q);
          continue;
        }
        const float* srow = src + static_cast<int64_t>(h) * g.W;
        if (g.stride_w == 1) {
          const int w0 = s - g.pad_w;  // w = q + w0
          const int qlo = std::max(0, -w0), qhi = std::min(g.Q, g.W - w0);
          for (int q = 0; q < std::min(qlo, g.Q); ++q) row[q] = 0.0f;
          if (qhi > qlo) std::memcpy(row + qlo, srow + qlo + w0, sizeof(float) * (qhi - qlo));
          for (int q = std::max(qhi, qlo); q < g.Q; ++q) row[q] = 0.0f;
        } else {
          for (int q = 0; q < g.Q; ++q) {
            const int w = q * g.stride_w - g.pad_w + s;
            row[q] = (w >= 0 && w < g.W) ? srow[w] : 0.0f;
          }
        }
      }
    }
  }
}

// dinp (C, H, W) = the col rows (ld apart) scattered back and summed (the adjoint of im2col).
void col2im_rows(float* dinp, const float* col, int64_t ld, const Conv2dGeometry& g) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q;
#pragma omp parallel for if (worth_parallel(static_cast<int64_t>(g.C) * g.R * g.S * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    float* dst = dinp + static_cast<int64_t>(c) * g.H * g.W;
    std::memset(dst, 0, sizeof(float) * g.H * g.W);
    for (int rs = 0; rs < g.R * g.S; ++rs) {
      const int r = rs / g.S, s = rs % g.S;
      const float* src = col + (static_cast<int64_t>(c) * g.R * g.S + rs) * ld;
      for (int p = 0; p < g.P; ++p) {
        const int h = p * g.stride_h - g.pad_h + r;
        if (h < 0 || h >= g.H) continue;
        float* drow = dst + static_cast<int64_t>(h) * g.W;
        const float* row = src + static_cast<int64_t>(p) * g.Q;
        if (g.stride_w == 1) {
          const int w0 = s - g.pad_w;
          const int qlo = std::max(0, -w0), qhi = std::min(g.Q, g.W - w0);
#pragma omp simd
          for (int q = qlo; q < qhi; ++q) drow[q + w0] += row[q];
        } else {
          for (int q = 0; q < g.Q; ++q) {
            const int w = q * g.stride_w - g.pad_w + s;
            if (w >= 0 && w < g.W) drow[w] += row[q];
          }
        }
      }
    }
  }
}

// How im2col and col2im walk one geometry. Rows of an output map of 16+ pixels are copied as row
// segments (above). Short rows (small maps, where those copies were mostly loop overhead: the
// stride-2 downsampling of an 8x8 map spent 3x its GEMM time in them) use index tables instead,
// built once per convolution: for each kernel tap, the input pixel of every output pixel (or -1:
// padding), and the inverse, the output pixel that reads each input pixel (or -1). Both
// directions are then one gather loop per (channel, tap) over the whole map; on strided maps
// (fewer output than input pixels) col2im scatters through the first table instead, and both
// loops stay scalar (AVX-512 gathers of mostly skipped pixels were slower). A pointwise
// convolution's columns are the input planes themselves.
struct ColumnMap {
  const Conv2dGeometry& g;
  bool pointwise, tables;
  std::vector<int32_t> src_of;  // (R*S, P*Q): input pixel h*W + w read by each output pixel
  std::vector<int32_t> dst_of;  // (R*S, H*W): output pixel p*Q + q that reads each input pixel; only
                                // where P*Q >= H*W (strided maps scatter through src_of instead)

  explicit ColumnMap(const Conv2dGeometry& geom)
      : g(geom),
        pointwise(is_pointwise(geom)),
        // (tall narrow images would make big tables for a gain that is in the short rows' count)
        tables(!pointwise && geom.Q < 16 && static_cast<int64_t>(geom.H) * geom.W <= 65536) {
    if (!tables) return;
    const int RS = g.R * g.S, PQ = g.P * g.Q, HW = g.H * g.W;
    src_of.assign(static_cast<size_t>(RS) * PQ, -1);
    if (PQ >= HW) dst_of.assign(static_cast<size_t>(RS) * HW, -1);  // col2im's gather (unstrided maps)
    for (int rs = 0; rs < RS; ++rs)
      for (int p = 0; p < g.P; ++p)
        for (int q = 0; q < g.Q; ++q) {
          const int h = p * g.stride_h - g.pad_h + rs / g.S, w = q * g.stride_w - g.pad_w + rs % g.S;
          if (h < 0 || h >= g.H || w < 0 || w >= g.W) continue;
          src_of[static_cast<size_t>(rs) * PQ + p * g.Q + q] = h * g.W + w;
          if (!dst_of.empty()) dst_of[static_cast<size_t>(rs) * HW + h * g.W + w] = p * g.Q + q;
        }
  }
};

// col rows (C*R*S of them, P*Q entries each, ld apart) from one image inp (C, H, W).
void im2col(float* col, int64_t ld, const float* inp, const ColumnMap& map) {
  const Conv2dGeometry& g = map.g;
  if (!map.pointwise && !map.tables) return im2col_rows(col, ld, inp, g);
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, HW = static_cast<int64_t>(g.H) * g.W;
  const int RS = g.R * g.S;
#pragma omp parallel for collapse(2) if (worth_parallel(static_cast<int64_t>(g.C) * RS * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    for (int rs = 0; rs < RS; ++rs) {
      float* dst = col + (static_cast<int64_t>(c) * RS + rs) * ld;
      const float* src = inp + c * HW;
      if (map.pointwise) {
#pragma omp simd
        for (int64_t i = 0; i < PQ; ++i) dst[i] = src[i];
        continue;
      }
      const int32_t* at = map.src_of.data() + rs * PQ;
      if (PQ < HW) {
        for (int64_t i = 0; i < PQ; ++i) dst[i] = at[i] >= 0 ? src[at[i]] : 0.0f;
        continue;
      }
#pragma omp simd
      for (int64_t i = 0; i < PQ; ++i) dst[i] = at[i] >= 0 ? src[at[i]] : 0.0f;
    }
  }
}

// dinp (C, H, W) = the col rows (ld apart) scattered back and summed (the adjoint of im2col).
void col2im(float* dinp, const float* col, int64_t ld, const ColumnMap& map) {
  const Conv2dGeometry& g = map.g;
  if (!map.pointwise && !map.tables) return col2im_rows(dinp, col, ld, g);
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, HW = static_cast<int64_t>(g.H) * g.W;
  const int RS = g.R * g.S;
#pragma omp parallel for if (worth_parallel(static_cast<int64_t>(g.C) * RS * PQ)) schedule(static)
  for (int c = 0; c < g.C; ++c) {
    float* dst = dinp + c * HW;
    const float* rows = col + static_cast<int64_t>(c) * RS * ld;
    if (map.pointwise) {
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dst[i] = rows[i];
      continue;
    }
    for (int64_t i = 0; i < HW; ++i) dst[i] = 0.0f;
    if (PQ < HW) {
      // strided: fewer output than input pixels, so scatter from the outputs instead of gathering
      // for every input pixel (most of which a tap skips). A tap reads each input pixel at most
      // once, so the sums are added in the same (tap) order either way.
      for (int rs = 0; rs < RS; ++rs) {
        const float* src = rows + rs * ld;
        const int32_t* at = map.src_of.data() + rs * PQ;
        for (int64_t i = 0; i < PQ; ++i)
          if (at[i] >= 0) dst[at[i]] += src[i];
      }
      continue;
    }
    for (int rs = 0; rs < RS; ++rs) {
      const float* src = rows + rs * ld;
      const int32_t* at = map.dst_of.data() + rs * HW;
#pragma omp simd
      for (int64_t i = 0; i < HW; ++i) dst[i] += at[i] >= 0 ? src[at[i]] : 0.0f;
    }
  }
}

// Runs body(n0, count, slot) over groups of `per` images, in parallel over groups when that pays.
template <typename Body>
void for_each_group(const Conv2dGeometry& g, int64_t per, Body body) {
  const int64_t groups = (g.N + per - 1) / per;
  if (parallel_over_groups(g, groups)) {
#pragma omp parallel
    {
      const int slot = omp_get_thread_num();
#pragma omp for schedule(static)
      for (int64_t i = 0; i < groups; ++i) body(i * per, std::min<int64_t>(per, g.N - i * per), slot);
    }
  } else {
    for (int64_t i = 0; i < groups; ++i) body(i * per, std::min<int64_t>(per, g.N - i * per), 0);
  }
}

int slots_for(const Conv2dGeometry& g, int64_t per) {
  return parallel_over_groups(g, (g.N + per - 1) / per) ? omp_get_max_threads() : 1;
}

}  // namespace

// The forward's Winograd transform of the input, where the weight gradient uses Winograd with the
// same tile and would compute the same transform again (see winograd_saved_floats).
int64_t conv2d_saved_floats(const Conv2dGeometry& g) {
  if (conv2d_forward_algo(g) != ConvAlgo::Winograd || conv2d_backward_weight_algo(g) != ConvAlgo::Winograd) return 0;
  return winograd_saved_floats(g, winograd_tile(g.N, g.P, g.Q));
}

void conv2d_forward(float* out, const float* inp, const float* weight, const float* bias, const Conv2dGeometry& g,
                    float* saved) {
  if (conv2d_forward_algo(g) == ConvAlgo::Winograd) {
    winograd_forward(out, inp, weight, bias, g, winograd_tile(g.N, g.P, g.Q), saved);
    return;
  }
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const bool pointwise = is_pointwise(g);
  const int64_t per = images_per_group(g), cols = per * PQ;
  const int slots = slots_for(g, per);
  check_blas_sizes({g.K, cols, CRS});
  const ColumnMap map(g);
  const bool direct = per == 1;                               // one image: the product lands in `out` itself
  Scratch col(direct && pointwise ? 0 : slots * CRS * cols);  // (slots, CRS, cols)
  Scratch tmp(direct ? 0 : slots * g.K * cols);               // (slots, K, cols)
  // out (K, cols) of a group = W (K, CRS) @ col (CRS, cols) [+ bias]
  for_each_group(g, per, [&](int64_t n0, int64_t count, int slot) {
    float* c = col.data() ? col.data() + slot * CRS * cols : nullptr;
    const int64_t ld = count * PQ;
    if (direct) {
      float* o = out + n0 * out_img;
      const float* B = inp + n0 * in_img;
      if (!pointwise) {
        im2col(c, PQ, B, map);
        B = c;
      }
      float beta = 0.0f;
      if (bias) {
        for (int k = 0; k < g.K; ++k) fill_f32(o + k * PQ, bias[k], PQ);
        beta = 1.0f;
      }
      gemm(false, false, g.K, PQ, CRS, 1.0f, weight, CRS, B, PQ, beta, o, PQ);
      return;
    }
    float* t = tmp.data() + slot * g.K * cols;
    for (int64_t j = 0; j < count; ++j) im2col(c + j * PQ, ld, inp + (n0 + j) * in_img, map);
    gemm(false, false, g.K, ld, CRS, 1.0f, weight, CRS, c, ld, 0.0f, t, ld);
    for (int64_t j = 0; j < count; ++j)
      for (int k = 0; k < g.K; ++k) {
        float* o = out + (n0 + j) * out_img + k * PQ;
        const float* src = t + k * ld + j * PQ;
        const float b = bias ? bias[k] : 0.0f;
#pragma omp simd
        for (int64_t i = 0; i < PQ; ++i) o[i] = src[i] + b;
      }
  });
}

void conv2d_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                     const float* weight, const Conv2dGeometry& g, const float* saved) {
  const int64_t PQ = static_cast<int64_t>(g.P) * g.Q, CRS = static_cast<int64_t>(g.C) * g.R * g.S;
  const int64_t in_img = static_cast<int64_t>(g.C) * g.H * g.W, out_img = static_cast<int64_t>(g.K) * PQ;
  const int64_t KCRS = static_cast<int64_t>(g.K) * CRS;
  const bool pointwise = is_pointwise(g);
  if (dbias) {
#pragma omp parallel for if (worth_parallel(g.N * out_img)) schedule(static)
    for (int k = 0; k < g.K; ++k) {
      double acc = 0.0;
      for (int64_t n = 0; n < g.N; ++n) {
        const float* x = dout + n * out_img + k * PQ;
        double s = 0.0;
#pragma omp simd reduction(+ : s)
        for (int64_t i = 0; i < PQ; ++i) s += x[i];
        acc += s;
      }
      dbias[k] = static_cast<float>(acc);
    }
  }
  if (dinp && conv2d_backward_input_algo(g) == ConvAlgo::Winograd) {
    winograd_backward_input(dinp, dout, weight, g, winograd_tile(g.N, g.H, g.W));
    dinp = nullptr;
  }
  if (dweight && conv2d_backward_weight_algo(g) == ConvAlgo::Winograd) {
    winograd_backward_weight(dweight, dout, inp, g, winograd_tile(g.N, g.P, g.Q), saved);
    dweight = nullptr;
  }
  if (!dweight && !dinp) return;
  const ColumnMap map(g);
  const int64_t per = images_per_group(g), cols = per * PQ;
  const int slots = slots_for(g, per);
  const bool direct = per == 1;
  check_blas_sizes({g.K, cols, CRS});
  Scratch col(direct && pointwise ? 0 : slots * CRS * cols);  // (slots, CRS, cols): im2col, then dcol
  Scratch dot(direct ? 0 : slots * g.K * cols);               // (slots, K, cols): the group's dO side by side
  // Slots past the first accumulate their groups' dW in private (K, CRS) blocks, summed at the end.
  Scratch dw_partial(slots > 1 && dweight ? (slots - 1) * KCRS : 0);
  std::vector<char> touched(slots, 0);
  // A group: dW (K, CRS) += dO (K, cols) @ col^T (cols, CRS); dcol (CRS, cols) = W^T (CRS, K) @ dO,
  // then scattered back into dI (or written straight into dI for one pointwise image).
  for_each_group(g, per, [&](int64_t n0, int64_t count, int slot) {
    float* c = col.data() ? col.data() + slot * CRS * cols : nullptr;
    float* dw = !dweight ? nullptr : slot == 0 ? dweight : dw_partial.data() + (slot - 1) * KCRS;
    const float beta = touched[slot] ? 1.0f : 0.0f;
    touched[slot] = 1;
    const int64_t ld = count * PQ;
    const float* dO = dout + n0 * out_img;
    if (!direct) {
      float* d = dot.data() + slot * g.K * cols;
      for (int64_t j = 0; j < count; ++j)
        for (int k = 0; k < g.K; ++k)
          std::memcpy(d + k * ld + j * PQ, dout + (n0 + j) * out_img + k * PQ, sizeof(float) * PQ);
      dO = d;
    }
    if (dweight) {
      const float* B = inp + n0 * in_img;
      if (!direct || !pointwise) {
        for (int64_t j = 0; j < count; ++j) im2col(c + j * PQ, ld, inp + (n0 + j) * in_img, map);
        B = c;
      }
      gemm(false, true, g.K, CRS, ld, 1.0f, dO, ld, B, ld, beta, dw, CRS);
    }
    if (dinp) {
      if (direct && pointwise) {
        gemm(true, false, CRS, PQ, g.K, 1.0f, weight, CRS, dO, PQ, 0.0f, dinp + n0 * in_img, PQ);
      } else {
        gemm(true, false, CRS, ld, g.K, 1.0f, weight, CRS, dO, ld, 0.0f, c, ld);
        for (int64_t j = 0; j < count; ++j) col2im(dinp + (n0 + j) * in_img, c + j * PQ, ld, map);
      }
    }
  });
  if (dweight && slots > 1) {
    for (int u = 1; u < slots; ++u)
      if (!touched[u]) fill_f32(dw_partial.data() + (u - 1) * KCRS, 0.0f, KCRS);  // this thread had no group
    if (!touched[0]) fill_f32(dweight, 0.0f, KCRS);
#pragma omp parallel for if (worth_parallel(KCRS * slots)) schedule(static)
    for (int64_t i = 0; i < KCRS; ++i) {
      float s = dweight[i];
      for (int u = 0; u + 1 < slots; ++u) s += dw_partial.data()[u * KCRS + i];
      dweight[i] = s;
    }
  }
}

}  // namespace md::cpu
