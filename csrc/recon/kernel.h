// Host launchers of the reconstruction CUDA kernels (csrc/recon/kernel.cu), on raw pointers and
// a cudaStream_t; no torch header, so kernel.cu compiles with plain nvcc. csrc/recon/binding.cpp
// wraps them as torch ops.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace spikekit {

// packed uint8 (frames, ceil(H*W/8)), centres int64 (k,) on the device -> out float32 (k, H, W):
// TFP min(scale * count / window, 1) / TFI min(scale / ISI, 1); centres already validated.
cudaError_t launch_tfp_packed(const uint8_t* packed, const int64_t* centres, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t window, float scale, cudaStream_t stream);
cudaError_t launch_tfi_packed(const uint8_t* packed, const int64_t* centres, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t max_interval, float scale, cudaStream_t stream);
// spikes (n, frames, npix) uint8 (or bool storage) / float32, sample i at spikes + i * bstride
// -> out float32 (n, k, npix) ISI.
cudaError_t launch_isi_u8(const uint8_t* spikes, const int64_t* centres, float* out, int64_t n,
                          int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                          int64_t max_interval, cudaStream_t stream);
cudaError_t launch_isi_f32(const float* spikes, const int64_t* centres, float* out, int64_t n,
                           int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                           int64_t max_interval, cudaStream_t stream);

}  // namespace spikekit
