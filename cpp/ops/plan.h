// Layout plans shared by the op files: broadcasting and strided copies.
#pragma once

#include "core/tensor.h"
#include "kernel_types.h"

namespace md {

// Plan for out = f(a, b) where a and b broadcast to out; strides in elements, any layout.
BroadcastPlan make_broadcast_plan(const Shape& out, const Shape& a_shape, const Shape& a_strides, const Shape& b_shape,
                                  const Shape& b_strides);
StridedCopy make_copy_plan(const Shape& shape, const Shape& dst_strides, const Shape& src_strides);
// dst[...] = src[...] for same-shape tensors of any layout (no autograd).
void copy_elements(const Tensor& dst, const Tensor& src);

}  // namespace md
