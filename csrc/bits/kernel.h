// Host launchers of the bit-layout CUDA kernels (csrc/bits/kernel.cu), on raw pointers and a
// cudaStream_t; no torch header, so kernel.cu compiles with plain nvcc. csrc/bits/binding.cpp
// wraps them as torch ops.
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

}  // namespace spikekit
