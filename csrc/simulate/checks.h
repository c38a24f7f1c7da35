// Argument checks of the simulator ops, shared by the CPU kernels and the CUDA binding: each
// message names the op and the argument.
#pragma once
#include <ATen/ATen.h>

#include "../common/checks.h"

namespace spikekit {

inline void check_float_state(const at::Tensor& t, const char* op, const char* arg, const at::Tensor& like) {
  TORCH_CHECK(t.scalar_type() == at::kFloat, "spikekit::", op, ": ", arg, " must be float32, got ",
              t.scalar_type());
  TORCH_CHECK(t.is_contiguous(), "spikekit::", op, ": ", arg, " must be contiguous");
  TORCH_CHECK(t.device() == like.device(), "spikekit::", op, ": ", arg, " must be on ", like.device(),
              ", got ", t.device());
  TORCH_CHECK(t.sizes() == like.sizes(), "spikekit::", op, ": ", arg, " must have shape ", like.sizes(),
              " (B, H, W), got ", t.sizes());
}

// State tensors acc, comp, theta: float32 (B, H, W), contiguous, same device.
inline void check_sim_state(const at::Tensor& acc, const at::Tensor& comp, const at::Tensor& theta,
                            const char* op) {
  TORCH_CHECK(acc.dim() == 3, "spikekit::", op, ": acc must be 3-D (B, H, W), got shape ", acc.sizes());
  check_float_state(acc, op, "acc", acc);
  check_float_state(comp, op, "comp", acc);
  check_float_state(theta, op, "theta", acc);
  check_size(acc.size(1), acc.size(2), op);
  TORCH_CHECK(acc.size(1) * acc.size(2) < (int64_t(1) << 32) && acc.size(0) < (int64_t(1) << 24),
              "spikekit::", op, ": at most 2^32 pixels per frame and 2^24 batch elements");
}

// out: uint8 (B, N, ceil(H*W/8)) when packed, else (B, N, H, W).
inline void check_sim_out(const at::Tensor& out, const at::Tensor& acc, int64_t frames, bool packed,
                          const char* op) {
  const int64_t B = acc.size(0), H = acc.size(1), W = acc.size(2);
  check_uint8(out, op, "out", packed ? 3 : 4);
  TORCH_CHECK(out.device() == acc.device(), "spikekit::", op, ": out must be on ", acc.device());
  const bool ok = packed ? (out.size(0) == B && out.size(1) == frames && out.size(2) == frame_bytes(H, W))
                         : (out.size(0) == B && out.size(1) == frames && out.size(2) == H && out.size(3) == W);
  TORCH_CHECK(ok, "spikekit::", op, ": out must have shape (", B, ", ", frames, ", ",
              packed ? std::to_string(frame_bytes(H, W)) : std::to_string(H) + ", " + std::to_string(W),
              "), got ", out.sizes());
}

// intensity: float32 (B, N, H, W) matching the state.
inline void check_sim_frames(const at::Tensor& intensity, const at::Tensor& acc, const char* op) {
  TORCH_CHECK(intensity.scalar_type() == at::kFloat, "spikekit::", op, ": intensity must be float32, got ",
              intensity.scalar_type());
  TORCH_CHECK(intensity.is_contiguous(), "spikekit::", op, ": intensity must be contiguous");
  TORCH_CHECK(intensity.device() == acc.device(), "spikekit::", op, ": intensity must be on ", acc.device(),
              ", got ", intensity.device());
  TORCH_CHECK(intensity.dim() == 4 && intensity.size(0) == acc.size(0) && intensity.size(2) == acc.size(1) &&
                  intensity.size(3) == acc.size(2),
              "spikekit::", op, ": intensity must have shape (", acc.size(0), ", N, ", acc.size(1), ", ",
              acc.size(2), "), got ", intensity.sizes());
}

// start, delta: float32 (B, H, W); alpha: float32 (N).
inline void check_sim_interp(const at::Tensor& start, const at::Tensor& delta, const at::Tensor& alpha,
                             const at::Tensor& acc, const char* op) {
  check_float_state(start, op, "start", acc);
  check_float_state(delta, op, "delta", acc);
  TORCH_CHECK(alpha.scalar_type() == at::kFloat && alpha.dim() == 1 && alpha.is_contiguous(),
              "spikekit::", op, ": alpha must be a contiguous 1-D float32 tensor, got ", alpha.scalar_type(),
              " of shape ", alpha.sizes());
  TORCH_CHECK(alpha.device() == acc.device(), "spikekit::", op, ": alpha must be on ", acc.device());
}

// All checks of a simulate_frames call.
inline void check_frames_call(const at::Tensor& intensity, const at::Tensor& acc, const at::Tensor& comp,
                              const at::Tensor& theta, int64_t frame0, bool packed, const at::Tensor& out) {
  const char* op = "simulate_frames";
  check_sim_state(acc, comp, theta, op);
  check_sim_frames(intensity, acc, op);
  check_sim_out(out, acc, intensity.size(1), packed, op);
  TORCH_CHECK(frame0 >= 0, "spikekit::", op, ": frame0 must be >= 0, got ", frame0);
}

// All checks of a simulate_interp call.
inline void check_interp_call(const at::Tensor& start, const at::Tensor& delta, const at::Tensor& alpha,
                              const at::Tensor& acc, const at::Tensor& comp, const at::Tensor& theta, int64_t frame0,
                              bool packed, const at::Tensor& out) {
  const char* op = "simulate_interp";
  check_sim_state(acc, comp, theta, op);
  check_sim_interp(start, delta, alpha, acc, op);
  check_sim_out(out, acc, alpha.size(0), packed, op);
  TORCH_CHECK(frame0 >= 0, "spikekit::", op, ": frame0 must be >= 0, got ", frame0);
}

// The two 32-bit halves of a seed (the Philox key).
inline uint32_t seed_lo(int64_t seed) { return static_cast<uint32_t>(static_cast<uint64_t>(seed)); }
inline uint32_t seed_hi(int64_t seed) { return static_cast<uint32_t>(static_cast<uint64_t>(seed) >> 32); }

}  // namespace spikekit
