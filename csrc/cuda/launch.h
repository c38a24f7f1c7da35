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

// --- simulator launchers (csrc/cuda/simulate.cu) ---

// --- reconstruction launchers (csrc/cuda/recon.cu) ---

// Grid size for `n` work items at `block` threads each, capped for grid-stride loops.
inline unsigned int grid_for(int64_t n, int block) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned int>(blocks < 65535 * 32 ? (blocks > 0 ? blocks : 1) : 65535 * 32);
}

}  // namespace spikekit
