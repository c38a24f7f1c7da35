// Host launchers of the simulator CUDA kernels (csrc/simulate/kernel.cu), on raw pointers and a
// cudaStream_t; no torch header, so kernel.cu compiles with plain nvcc.
// csrc/simulate/binding.cpp wraps them as torch ops.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

namespace spikekit {

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

}  // namespace spikekit
