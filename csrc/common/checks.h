// Argument checks shared by the CPU and CUDA host entries of every family: each message names
// the op and the argument.
#pragma once
#include <ATen/ATen.h>

#include "layout.h"

namespace spikekit {

inline void check_uint8(const at::Tensor& t, const char* op, const char* arg, int64_t dim) {
  TORCH_CHECK(t.scalar_type() == at::kByte, "spikekit::", op, ": ", arg,
              " must be uint8, got ", t.scalar_type());
  TORCH_CHECK(t.dim() == dim, "spikekit::", op, ": ", arg, " must be ", dim, "-D, got shape ",
              t.sizes());
  TORCH_CHECK(t.is_contiguous(), "spikekit::", op, ": ", arg, " must be contiguous");
}

inline void check_size(int64_t height, int64_t width, const char* op) {
  TORCH_CHECK(height > 0 && width > 0, "spikekit::", op, ": height and width must be > 0, got ",
              height, " x ", width);
}

// Packed spike frames: H, W > 0 and a contiguous uint8 (T, ceil(H*W/8)) tensor.
inline void check_packed(const at::Tensor& packed, int64_t height, int64_t width, const char* op) {
  check_size(height, width, op);
  check_uint8(packed, op, "packed", 2);
  TORCH_CHECK(packed.size(1) == frame_bytes(height, width), "spikekit::", op,
              ": packed must have ceil(H*W/8) = ", frame_bytes(height, width),
              " bytes per frame for ", height, " x ", width, ", got ", packed.size(1));
}

}  // namespace spikekit
