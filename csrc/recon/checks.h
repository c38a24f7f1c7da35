// Host-side argument checks of the reconstruction ops, shared by the CPU entries
// (csrc/recon/cpu.cpp) and the CUDA bindings (csrc/recon/binding.cpp). Messages name the
// op and the argument; centre errors name the valid range.
#pragma once
#include <ATen/ATen.h>

#include <algorithm>

#include "../common/checks.h"

namespace spikekit {

// Checks shared by the packed TFP/TFI entries; returns the number of centres.
inline int64_t check_packed_args(const at::Tensor& packed, int64_t height, int64_t width,
                                 const at::Tensor& centres, const char* op) {
  check_packed(packed, height, width, op);
  TORCH_CHECK(centres.scalar_type() == at::kLong && centres.dim() == 1 && centres.is_contiguous(),
              "spikekit::", op, ": centres must be a contiguous 1-D int64 tensor, got ",
              centres.scalar_type(), " of shape ", centres.sizes());
  return centres.size(0);
}

inline void check_out(const at::Tensor& out, int64_t k, int64_t height, int64_t width,
                      const char* op) {
  TORCH_CHECK(out.scalar_type() == at::kFloat && out.is_contiguous() && out.dim() == 3 &&
                  out.size(0) == k && out.size(1) == height && out.size(2) == width,
              "spikekit::", op, ": out must be a contiguous float32 (", k, ", ", height, ", ",
              width, ") tensor, got ", out.scalar_type(), " of shape ", out.sizes());
}

inline void check_tfp_centres(const int64_t* c, int64_t k, int64_t frames, int64_t window) {
  TORCH_CHECK(window >= 1, "spikekit::tfp_packed: window must be >= 1 spike frame, got ", window);
  const int64_t lo = window / 2, hi = frames - 1 - (window - 1) / 2;
  for (int64_t i = 0; i < k; ++i)
    TORCH_CHECK(c[i] >= lo && c[i] <= hi, "spikekit::tfp_packed: centre ", c[i], " with window ",
                window, " needs frames outside the ", frames,
                "-frame input; valid centres: ", lo, " .. ", hi);
}

inline void check_tfi_args(const int64_t* c, int64_t k, int64_t frames, int64_t max_interval,
                           const char* op) {
  TORCH_CHECK(max_interval >= 1 && max_interval <= (1 << 30), "spikekit::", op,
              ": max_interval must be >= 1 spike frame, got ", max_interval);
  for (int64_t i = 0; i < k; ++i)
    TORCH_CHECK(c[i] >= 0 && c[i] < frames, "spikekit::", op, ": centre ", c[i],
                " is outside the ", frames, "-frame input; valid: 0 .. ", frames - 1);
}

// spikes (N, T, P): uint8, bool or float32; frames and pixels dense (stride(2) == 1,
// stride(1) == P), any batch stride (so slices of a longer window need no copy).
inline void check_isi_spikes(const at::Tensor& spikes) {
  TORCH_CHECK(spikes.dim() == 3, "spikekit::isi: spikes must be (N, T, P), got shape ", spikes.sizes());
  TORCH_CHECK((spikes.size(2) <= 1 || spikes.stride(2) == 1) &&
                  (spikes.size(1) <= 1 || spikes.stride(1) == spikes.size(2)) && spikes.stride(0) >= 0,
              "spikekit::isi: spikes must have dense (T, P) planes (strides (*, P, 1)), got strides ",
              spikes.strides());
  const auto st = spikes.scalar_type();
  TORCH_CHECK(st == at::kByte || st == at::kBool || st == at::kFloat,
              "spikekit::isi: spikes must be uint8, bool or float32, got ", st);
}

// Signature of the .out entries of tfp_packed / tfi_packed (param: window or max_interval).
using PackedOutFn = void (*)(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                              const at::Tensor& centres, int64_t param, double scale, at::Tensor out);

// The functional op over a .out entry: allocate float32 (K, H, W) on packed's device, fill it.
template <PackedOutFn Out>
at::Tensor packed_functional(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                             const at::Tensor& centres, int64_t param, double scale) {
  const int64_t k = centres.dim() == 1 ? centres.size(0) : 0;  // Out reports a bad shape
  at::Tensor out = at::empty({k, std::max<int64_t>(height, 0), std::max<int64_t>(width, 0)},
                             packed.options().dtype(at::kFloat));
  Out(packed, height, width, flip, centres, param, scale, out);
  return out;
}

}  // namespace spikekit
