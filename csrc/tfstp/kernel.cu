// CUDA kernel of the TFSTP recurrence: one thread per pixel runs the frames of the call with its
// state in registers (neighbouring threads read neighbouring pixels of a frame). The per-element
// math is csrc/tfstp/math.h, shared with the CPU kernel (csrc/tfstp/cpu.cpp).
#include <cuda_runtime.h>

#include "../common/cuda.h"
#include "kernel.h"
#include "math.h"

namespace spikekit {
namespace {

__global__ void tfstp_kernel(const uint8_t* __restrict__ spikes, double* __restrict__ r, double* __restrict__ u,
                             int64_t* __restrict__ last, const int64_t* __restrict__ emit, float* __restrict__ out,
                             int64_t k, int64_t frames, int64_t npix, int64_t t0, int64_t origin, StpParams p) {
  grid_stride(npix, [&](int64_t q) {
    double rq = r[q], uq = u[q];
    int64_t lq = last[q];
    int64_t j = 0;
    for (int64_t i = 0; i < frames; ++i) {
      if (spikes[i * npix + q]) {
        const int64_t delta = t0 + i - lq;
        stp_spike(rq, uq, stp_decay(delta, p.d), stp_decay(delta, p.big_f), p);
        lq = t0 + i;
      }
      for (; j < k && emit[j] == i; ++j) out[j * npix + q] = stp_intensity(rq, uq, lq >= origin, p);
    }
    r[q] = rq;
    u[q] = uq;
    last[q] = lq;
  });
}

}  // namespace

cudaError_t launch_tfstp_frames(const uint8_t* spikes, double* r, double* u, int64_t* last, const int64_t* emit,
                                float* out, int64_t k, int64_t frames, int64_t npix, int64_t t0, int64_t origin,
                                const StpParams& p, cudaStream_t stream) {
  return launch_grid_stride(tfstp_kernel, npix, 256, stream, spikes, r, u, last, emit, out, k, frames, npix, t0,
                            origin, p);
}

}  // namespace spikekit
