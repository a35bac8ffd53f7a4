// Shared vocabulary of the core: shapes, devices, dtypes and the exception types that pybind11
// translates into Python's ValueError / TypeError / RuntimeError / MemoryError.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace md {

using Shape = std::vector<int64_t>;

// ---- errors
// Each maps to the Python exception of the same meaning (see python/bindings.cpp).
struct ValueError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct IndexError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct OutOfMemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Raised for invalid use of the autograd graph and failures inside a backend.
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string shape_str(const Shape& s);

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  if constexpr (std::is_same_v<T, Shape>) {
    os << shape_str(v);
  } else {
    os << v;
  }
  append(os, rest...);
}
}  // namespace detail

// str("conv2d: input ", x.shape(), " ...") formats shapes as [N, C, H, W].
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

// MD_CHECK(cond, ValueError, "op: message ", value, ...) throws when cond is false.
#define MD_CHECK(cond, Exc, ...)                          \
  do {                                                    \
    if (!(cond)) throw ::md::Exc(::md::str(__VA_ARGS__)); \
  } while (0)

// ---- devices
enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
  // Accepts "cpu", "cuda", "cuda:N".
  static Device parse(const std::string& s);
};

inline constexpr Device kCpu{DeviceType::CPU, 0};
inline constexpr Device kCuda0{DeviceType::CUDA, 0};

// ---- dtypes
// float32 is the compute type; int64 carries indices (timesteps, labels, embedding ids);
// bfloat16 and float16 are storage types (ops on them compute in float32 and round once), and so
// are the narrow integers uint8, int8, int16 and int32 (ops on them compute in int64 and wrap once,
// as torch's integer arithmetic wraps).
enum class DType : uint8_t {
  Float32 = 0,
  Int64 = 1,
  BFloat16 = 2,
  Bool = 3,
  Float16 = 4,
  UInt8 = 5,
  Int8 = 6,
  Int16 = 7,
  Int32 = 8,
};

// uint8, int8, int16 or int32 (stored narrow, computed in int64)
inline bool is_narrow_int(DType d) {
  return d == DType::UInt8 || d == DType::Int8 || d == DType::Int16 || d == DType::Int32;
}
// int64 or a narrow integer
inline bool is_integer(DType d) { return d == DType::Int64 || is_narrow_int(d); }

size_t dtype_size(DType d);
const char* dtype_name(DType d);
DType dtype_parse(const std::string& s);

// Number of elements of a shape, checking every extent and the product for overflow.
int64_t shape_numel(const Shape& s);
// Row-major strides of a contiguous tensor of this shape.
Shape contiguous_strides(const Shape& s);
// Wraps a possibly negative dim into [0, ndim); throws IndexError naming op otherwise.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op);

// ---- float32 matrix-product precision (md.set_float32_matmul_precision("medium")); off by default
// When on, every float32 matrix product of the engine (matmul, linear, conv2d, attention) takes its
// operands rounded to bfloat16 and accumulates in float32; tensors, weights and the other ops stay
// float32. CUDA runs these products on bf16 tensor cores, CPUs with AVX512-BF16 in a VDPBF16PS
// kernel; other CPUs round copies of the operands for their float32 kernels, which gives the same
// numbers (a product of two bf16 values is exact in float32) more slowly.
void set_matmul_bf16(bool on);
bool matmul_bf16();

// ---- how the CUDA conv2d lays out its im2col products (a tuning switch for benchmarks and tests)
// kBatched: one GEMM per image, strided-batched (N = P*Q per product). kWide: the chunk's images
// side by side, one GEMM with N = images*P*Q, and a transpose of the output back to NCHW.
// kImplicit: with TF32 allowed (and not in the bf16 mode), the forward and the stride-1 input
// gradient gather their operands inside one tensor-core kernel (no column buffer); the weight
// gradient and the rest go wide. kAuto picks per geometry. The start value comes from
// MINIDIFF_CUDA_CONV (auto, batched, wide or implicit).
enum class CudaConvLayout { kAuto = 0, kBatched = 1, kWide = 2, kImplicit = 3 };
void set_cuda_conv_layout(CudaConvLayout layout);
CudaConvLayout cuda_conv_layout();
// "auto", "batched", "wide" or "implicit"; ValueError for anything else.
CudaConvLayout parse_cuda_conv_layout(const std::string& name);
const char* cuda_conv_layout_name(CudaConvLayout layout);

// ---- the Winograd tile of the CPU conv2d's stride-1 3x3 convolutions (a switch for benchmarks,
// tests, and users who want F(2x2)'s smaller rounding error): 0 picks per geometry (see
// cpu/winograd.cpp), 2 forces F(2x2, 3x3) and 4 F(4x4, 3x3) wherever Winograd runs. The start
// value comes from MINIDIFF_WINOGRAD_TILE (auto, 2 or 4).
void set_cpu_winograd_tile(int tile);  // ValueError unless 0, 2 or 4
int cpu_winograd_tile();

// ---- the scratch bytes one CUDA conv2d/attention call may hold before it splits its batch into
// chunks: 256 MiB. Setting returns the previous budget (ValueError unless positive); the tests
// shrink it to make every call chunk. Device-independent state, like the switches above.
int64_t set_cuda_workspace_budget(int64_t bytes);
int64_t cuda_workspace_budget();

}  // namespace md
