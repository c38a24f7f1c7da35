// Host launchers of the CUDA kernels, on raw pointers and a cudaStream_t. Declared without any
// torch header so that csrc/cuda/*.cu compile with plain `nvcc -c` (tests do this on CPU-only
// machines); the *_binding.cpp files wrap them as torch ops.
#pragma once
#include <cuda_runtime.h>
#include <cstdint>

namespace spikekit {

// packed uint8 (frames, ceil(H*W/8)) -> out uint8 (frames, H, W) of {0,1}.
cudaError_t launch_unpack_spikes(const uint8_t* packed, uint8_t* out, int64_t frames,
                                 int64_t height, int64_t width, bool flip, cudaStream_t stream);
// spikes uint8 (frames, H, W) of {0,1} -> out uint8 (frames, ceil(H*W/8)).
cudaError_t launch_pack_spikes(const uint8_t* spikes, uint8_t* out, int64_t frames,
                               int64_t height, int64_t width, bool flip, cudaStream_t stream);

// packed uint8 (frames, ceil(H*W/8)) -> per-pixel int64 (H, W) and per-frame int64 (frames).
cudaError_t launch_spike_counts(const uint8_t* packed, int64_t* pixel_counts, int64_t* frame_counts,
                                int64_t frames, int64_t height, int64_t width, bool flip,
                                cudaStream_t stream);

// --- simulator launchers (csrc/cuda/simulate.cu) ---
// State acc, comp, theta: float32 (batch, H, W); out: uint8 (batch, frames, ceil(H*W/8)) when
// packed, else (batch, frames, H, W). Seed = (k1 << 32) | k0.
cudaError_t launch_simulate_frames(const float* intensity, float* acc, float* comp, const float* theta,
                                   uint8_t* out, int64_t batch, int64_t frames, int64_t height, int64_t width,
                                   float gain, float dark, float shot, uint32_t k0, uint32_t k1, int64_t frame0,
                                   bool packed, cudaStream_t stream);
cudaError_t launch_simulate_interp(const float* start, const float* delta, const float* alpha, float* acc,
                                   float* comp, const float* theta, uint8_t* out, int64_t batch, int64_t frames,
                                   int64_t height, int64_t width, float gain, float dark, float shot, uint32_t k0,
                                   uint32_t k1, int64_t frame0, bool packed, cudaStream_t stream);
cudaError_t launch_simulate_init(float* acc, float* comp, float* theta, int64_t batch, int64_t height,
                                 int64_t width, float threshold, float sigma, bool random_init, uint32_t k0,
                                 uint32_t k1, cudaStream_t stream);

// --- reconstruction launchers (csrc/cuda/recon.cu) ---
// packed uint8 (frames, ceil(H*W/8)), centers int64 (k,) on the device -> out float32 (k, H, W):
// TFP min(scale * count / window, 1) / TFI min(scale / ISI, 1); centres already validated.
cudaError_t launch_tfp_packed(const uint8_t* packed, const int64_t* centers, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t window, float scale, cudaStream_t stream);
cudaError_t launch_tfi_packed(const uint8_t* packed, const int64_t* centers, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t max_interval, float scale, cudaStream_t stream);
// spikes (n, frames, npix) uint8 (or bool storage) / float32, sample i at spikes + i * bstride
// -> out float32 (n, k, npix) ISI.
cudaError_t launch_isi_u8(const uint8_t* spikes, const int64_t* centers, float* out, int64_t n,
                          int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                          int64_t max_interval, cudaStream_t stream);
cudaError_t launch_isi_f32(const float* spikes, const int64_t* centers, float* out, int64_t n,
                           int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                           int64_t max_interval, cudaStream_t stream);

// Grid size for `n` work items at `block` threads each, capped for grid-stride loops.
inline unsigned int grid_for(int64_t n, int block) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned int>(blocks < 65535 * 32 ? (blocks > 0 ? blocks : 1) : 65535 * 32);
}

}  // namespace spikekit
