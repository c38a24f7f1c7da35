// Argument checks of the bit-layout ops, shared by the CPU entries (csrc/bits/cpu.cpp) and the
// CUDA bindings (csrc/bits/binding.cpp): each message names the op and the argument.
#pragma once
#include <ATen/ATen.h>

#include "../common/checks.h"

namespace spikekit {

// out of an unpack: uint8 (T, H, W), contiguous, on packed's device.
inline void check_unpack_out(const at::Tensor& packed, int64_t height, int64_t width,
                             const at::Tensor& out, const char* op) {
  check_uint8(out, op, "out", 3);
  TORCH_CHECK(out.device() == packed.device(), "spikekit::", op, ": out must be on ", packed.device(),
              ", got ", out.device());
  TORCH_CHECK(out.size(0) == packed.size(0) && out.size(1) == height && out.size(2) == width,
              "spikekit::", op, ": out must have shape (", packed.size(0), ", ", height, ", ", width,
              "), got ", out.sizes());
}

}  // namespace spikekit
