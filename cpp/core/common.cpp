// Shapes, devices and dtypes: parsing, printing and checked arithmetic.
#include "core/common.h"

#include <atomic>
#include <cstdlib>
#include <limits>

namespace md {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string Device::str() const {
  if (type == DeviceType::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return Device{DeviceType::CPU, 0};
  if (s == "cuda") return Device{DeviceType::CUDA, 0};
  if (s.rfind("cuda:", 0) == 0) {
    const std::string idx = s.substr(5);
    bool digits = !idx.empty() && idx.size() < 4;
    for (char c : idx) digits = digits && c >= '0' && c <= '9';
    if (digits) return Device{DeviceType::CUDA, std::stoi(idx)};
  }
  throw ValueError("unknown device '" + s + "': expected 'cpu', 'cuda' or 'cuda:N'");
}

size_t dtype_size(DType d) {
  switch (d) {
    case DType::Float32:
      return 4;
    case DType::Int64:
      return 8;
    case DType::BFloat16:
    case DType::Float16:
      return 2;
    case DType::Bool:
    case DType::UInt8:
    case DType::Int8:
      return 1;
    case DType::Int16:
      return 2;
    case DType::Int32:
      return 4;
  }
  return 0;
}

const char* dtype_name(DType d) {
  switch (d) {
    case DType::Float32:
      return "float32";
    case DType::Int64:
      return "int64";
    case DType::BFloat16:
      return "bfloat16";
    case DType::Float16:
      return "float16";
    case DType::Bool:
      return "bool";
    case DType::UInt8:
      return "uint8";
    case DType::Int8:
      return "int8";
    case DType::Int16:
      return "int16";
    case DType::Int32:
      return "int32";
  }
  return "?";
}

DType dtype_parse(const std::string& s) {
  if (s == "float32" || s == "float") return DType::Float32;
  if (s == "int64" || s == "long") return DType::Int64;
  if (s == "bfloat16") return DType::BFloat16;
  if (s == "float16" || s == "half") return DType::Float16;
  if (s == "bool") return DType::Bool;
  if (s == "uint8") return DType::UInt8;
  if (s == "int8") return DType::Int8;
  if (s == "int16" || s == "short") return DType::Int16;
  if (s == "int32" || s == "int") return DType::Int32;
  throw TypeError("unsupported dtype '" + s +
                  "': minidiff supports float32, bfloat16, float16, int64, int32, int16, int8, uint8 and bool");
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0) throw ValueError("negative dimension " + std::to_string(d) + " in shape " + shape_str(s));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw ValueError("shape " + shape_str(s) + " has too many elements");
    n *= d;
  }
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  const int64_t n = std::max<int64_t>(ndim, 1);
  if (dim < -n || dim >= n)
    throw IndexError(str(op, ": dim ", dim, " is out of range for a tensor of ", ndim, " dimensions"));
  return dim < 0 ? dim + n : dim;
}

namespace {
std::atomic<bool> g_matmul_bf16{false};
}  // namespace

void set_matmul_bf16(bool on) { g_matmul_bf16.store(on, std::memory_order_relaxed); }
bool matmul_bf16() { return g_matmul_bf16.load(std::memory_order_relaxed); }

namespace {
constexpr CudaConvLayout kCudaConvLayouts[] = {CudaConvLayout::kAuto, CudaConvLayout::kBatched, CudaConvLayout::kWide,
                                               CudaConvLayout::kImplicit};

std::atomic<int> g_cuda_conv_layout{[] {
  // an unknown value in the environment falls back to auto rather than failing the import
  const char* env = std::getenv("MINIDIFF_CUDA_CONV");
  for (CudaConvLayout layout : kCudaConvLayouts)
    if (env && std::string(env) == cuda_conv_layout_name(layout)) return static_cast<int>(layout);
  return static_cast<int>(CudaConvLayout::kAuto);
}()};
}  // namespace

CudaConvLayout parse_cuda_conv_layout(const std::string& name) {
  for (CudaConvLayout layout : kCudaConvLayouts)
    if (name == cuda_conv_layout_name(layout)) return layout;
  throw ValueError(str("cuda conv layout: expected 'auto', 'batched', 'wide' or 'implicit', got '", name, "'"));
}

const char* cuda_conv_layout_name(CudaConvLayout layout) {
  switch (layout) {
    case CudaConvLayout::kBatched:
      return "batched";
    case CudaConvLayout::kWide:
      return "wide";
    case CudaConvLayout::kImplicit:
      return "implicit";
    default:
      return "auto";
  }
}

void set_cuda_conv_layout(CudaConvLayout layout) {
  g_cuda_conv_layout.store(static_cast<int>(layout), std::memory_order_relaxed);
}
CudaConvLayout cuda_conv_layout() {
  return static_cast<CudaConvLayout>(g_cuda_conv_layout.load(std::memory_order_relaxed));
}

namespace {
std::atomic<int> g_cpu_winograd_tile{[] {
  // like MINIDIFF_CUDA_CONV, an unknown value falls back to auto rather than failing the import
  const char* env = std::getenv("MINIDIFF_WINOGRAD_TILE");
  const std::string v = env ? env : "";
  return v == "2" ? 2 : v == "4" ? 4 : 0;
}()};
}  // namespace

void set_cpu_winograd_tile(int tile) {
  if (tile != 0 && tile != 2 && tile != 4)
    throw ValueError(str("cpu winograd tile: expected 0 (auto), 2 or 4, got ", tile));
  g_cpu_winograd_tile.store(tile, std::memory_order_relaxed);
}
int cpu_winograd_tile() { return g_cpu_winograd_tile.load(std::memory_order_relaxed); }

namespace {
std::atomic<int64_t> g_cuda_workspace_budget{int64_t(256) << 20};
}  // namespace

int64_t set_cuda_workspace_budget(int64_t bytes) {
  MD_CHECK(bytes > 0, ValueError, "cuda_set_workspace_budget: the budget must be positive, got ", bytes);
  return g_cuda_workspace_budget.exchange(bytes, std::memory_order_relaxed);
}
int64_t cuda_workspace_budget() { return g_cuda_workspace_budget.load(std::memory_order_relaxed); }

}  // namespace md
