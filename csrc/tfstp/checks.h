// Argument checks of the TFSTP op, shared by the CPU entry (csrc/tfstp/cpu.cpp) and the CUDA
// binding (csrc/tfstp/binding.cpp): each message names the op and the argument.
#pragma once
#include <ATen/ATen.h>

#include "../common/checks.h"
#include "math.h"

namespace spikekit {

inline void check_stp_vector(const at::Tensor& t, const char* arg, at::ScalarType type, int64_t n,
                             const at::Tensor& like) {
  TORCH_CHECK(t.scalar_type() == type && t.dim() == 1 && t.size(0) == n && t.is_contiguous(),
              "spikekit::tfstp_frames: ", arg, " must be a contiguous ", type, " (", n, ",) tensor, got ",
              t.scalar_type(), " of shape ", t.sizes());
  TORCH_CHECK(t.device() == like.device(), "spikekit::tfstp_frames: ", arg, " must be on ", like.device(),
              ", got ", t.device());
}

// All checks of a tfstp_frames call (emit is checked where it is read: on the host).
inline void check_tfstp_call(const at::Tensor& spikes, const at::Tensor& r, const at::Tensor& u,
                             const at::Tensor& last, const at::Tensor& emit, const at::Tensor& out,
                             const StpParams& p) {
  check_uint8(spikes, "tfstp_frames", "spikes", 2);
  const int64_t npix = spikes.size(1);
  check_stp_vector(r, "r", at::kDouble, npix, spikes);
  check_stp_vector(u, "u", at::kDouble, npix, spikes);
  check_stp_vector(last, "last", at::kLong, npix, spikes);
  TORCH_CHECK(emit.scalar_type() == at::kLong && emit.dim() == 1 && emit.is_contiguous(),
              "spikekit::tfstp_frames: emit must be a contiguous 1-D int64 tensor, got ", emit.scalar_type(),
              " of shape ", emit.sizes());
  TORCH_CHECK(out.scalar_type() == at::kFloat && out.dim() == 2 && out.is_contiguous() &&
                  out.size(0) == emit.size(0) && out.size(1) == npix && out.device() == spikes.device(),
              "spikekit::tfstp_frames: out must be a contiguous float32 (", emit.size(0), ", ", npix,
              ") tensor on ", spikes.device(), ", got ", out.scalar_type(), " of shape ", out.sizes(), " on ",
              out.device());
  TORCH_CHECK(p.d > 0.0 && p.big_f > 0.0, "spikekit::tfstp_frames: D and F must be > 0 spike frames, got D=",
              p.d, ", F=", p.big_f);
}

// emit (host copy): ascending local frame indices in [0, frames).
inline void check_tfstp_emit(const int64_t* emit, int64_t k, int64_t frames) {
  for (int64_t i = 0; i < k; ++i)
    TORCH_CHECK(emit[i] >= 0 && emit[i] < frames && (i == 0 || emit[i] >= emit[i - 1]),
                "spikekit::tfstp_frames: emit must be ascending frame indices in 0 .. ", frames - 1, ", got ",
                emit[i], " at position ", i);
}

}  // namespace spikekit
