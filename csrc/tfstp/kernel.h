// Host launcher of the TFSTP CUDA kernel (csrc/tfstp/kernel.cu), on raw pointers and a
// cudaStream_t; no torch header, so kernel.cu compiles with plain nvcc.
// csrc/tfstp/binding.cpp wraps it as a torch op.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>

#include "math.h"

namespace spikekit {

// spikes uint8 (frames, npix); state r, u float64 (npix), last int64 (npix), updated in place;
// emit int64 (k) ascending local frame indices (validated, on the device) -> out float32 (k, npix).
cudaError_t launch_tfstp_frames(const uint8_t* spikes, double* r, double* u, int64_t* last, const int64_t* emit,
                                float* out, int64_t k, int64_t frames, int64_t npix, int64_t t0, int64_t origin,
                                const StpParams& p, cudaStream_t stream);

}  // namespace spikekit
