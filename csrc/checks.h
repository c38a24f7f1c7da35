// Argument checks shared by the CPU and CUDA host entries: each message names the op and
// the argument.
#pragma once
#include <ATen/ATen.h>

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

}  // namespace spikekit
