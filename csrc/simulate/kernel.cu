// CUDA kernels of the simulator: integrate-and-fire fused with bit packing. The per-element
// math is csrc/simulate/math.h, shared with the CPU kernels (csrc/simulate/cpu.cpp), so both
// devices produce the same bits. One thread per (batch element, file pixel) loops over the spike
// frames of the call with its state in registers; a warp covers 32 consecutive file pixels, so
// one __ballot_sync per spike frame yields 4 packed bytes.
#include <cuda_runtime.h>

#include "../bits/math.h"
#include "../common/cuda.h"
#include "kernel.h"
#include "math.h"

namespace spikekit {
namespace {

template <bool INTERP>
__global__ void simulate_kernel(const SimArgs a) {
  const int64_t npix = a.height * a.width;
  const int64_t nb = frame_bytes(a.height, a.width);
  const int64_t padded = (npix + 31) / 32 * 32;  // warps never straddle batch elements
  const int64_t total = a.batch * padded;
  const unsigned lane = threadIdx.x & 31u;
  grid_stride(total, [&](int64_t i) {
    const int64_t b = i / padded;
    const int64_t p = i - b * padded;  // file pixel index
    const bool valid = p < npix;
    const int64_t r = valid ? p / a.width : 0;
    const int64_t img = valid ? file_row(r, a.height, true) * a.width + (p - r * a.width) : 0;
    const int64_t s_idx = b * npix + img;
    float acc = 0.0f, comp = 0.0f, theta = 1.0f, f0 = 0.0f, d = 0.0f;
    if (valid) {
      acc = a.acc[s_idx];
      comp = a.comp[s_idx];
      theta = a.theta[s_idx];
      if (INTERP) {
        f0 = a.start[s_idx];
        d = a.delta[s_idx];
      }
    }
    const float theta_fire = sim_theta_fire(theta);
    const uint32_t pixel = static_cast<uint32_t>(img), bb = static_cast<uint32_t>(b);
    float z0 = 0.0f, z1 = 0.0f, z2 = 0.0f, z3 = 0.0f;  // shot-noise normals of a group of 4 frames
    int64_t zbase = -4;
    for (int64_t t = 0; t < a.frames; ++t) {
      const int64_t row = b * a.frames + t;
      const int64_t frame = a.frame0 + t;
      uint8_t s = 0;
      if (valid) {
        const float x = INTERP ? sim_interp(f0, d, a.alpha[t]) : a.intensity[row * npix + img];
        float q = sim_charge(x, a.gain, a.dark);
        if (a.shot > 0.0f) {
          if ((frame & 3) == 0 && t + 4 <= a.frames) {  // one Philox call for 4 spike frames
            sim_normals4(sim_shot_words(a.k0, a.k1, pixel, frame, bb), z0, z1, z2, z3);
            zbase = t;
          }
          const int64_t j = t - zbase;
          const float z = j == 0 ? z0 : j == 1 ? z1 : j == 2 ? z2 : j == 3 ? z3
                                                                 : sim_shot_normal(a.k0, a.k1, pixel, frame, bb);
          q = sim_shot(q, a.shot, z);
        }
        s = static_cast<uint8_t>(sim_fire(q, acc, comp, theta, theta_fire));
      }
      if (a.packed) {
        const unsigned bits = __ballot_sync(0xffffffffu, s != 0);
        const int64_t byte = (p - lane) / 8 + lane;
        if (lane < 4 && byte < nb) a.out[row * nb + byte] = static_cast<uint8_t>(bits >> (8 * lane));
      } else if (valid) {
        a.out[row * npix + img] = s;
      }
    }
    if (valid) {
      a.acc[s_idx] = acc;
      a.comp[s_idx] = comp;
    }
  });
}

__global__ void simulate_init_kernel(float* acc, float* comp, float* theta, int64_t total, int64_t npix,
                                     float threshold, float sigma, bool random_init, uint32_t k0, uint32_t k1) {
  grid_stride(total, [&](int64_t i) {
    const int64_t b = i / npix;
    sim_init_pixel(k0, k1, static_cast<uint32_t>(i - b * npix), static_cast<uint32_t>(b), threshold, sigma,
                   random_init, theta[i], acc[i]);
    comp[i] = 0.0f;
  });
}

cudaError_t launch(const SimArgs& a, cudaStream_t stream) {
  const int64_t padded = (a.height * a.width + 31) / 32 * 32;
  const int64_t total = a.frames == 0 ? 0 : a.batch * padded;
  const int block = 128;
  return a.intensity != nullptr ? launch_grid_stride(simulate_kernel<false>, total, block, stream, a)
                                : launch_grid_stride(simulate_kernel<true>, total, block, stream, a);
}

}  // namespace

cudaError_t launch_simulate_frames(const float* intensity, float* acc, float* comp, const float* theta,
                                   uint8_t* out, int64_t batch, int64_t frames, int64_t height, int64_t width,
                                   float gain, float dark, float shot, uint32_t k0, uint32_t k1, int64_t frame0,
                                   bool packed, cudaStream_t stream) {
  const SimArgs a{intensity, nullptr, nullptr, nullptr, acc, comp, theta, out, batch, frames, height, width,
                    gain, dark, shot, k0, k1, frame0, packed};
  return launch(a, stream);
}

cudaError_t launch_simulate_interp(const float* start, const float* delta, const float* alpha, float* acc,
                                   float* comp, const float* theta, uint8_t* out, int64_t batch, int64_t frames,
                                   int64_t height, int64_t width, float gain, float dark, float shot, uint32_t k0,
                                   uint32_t k1, int64_t frame0, bool packed, cudaStream_t stream) {
  const SimArgs a{nullptr, start, delta, alpha, acc, comp, theta, out, batch, frames, height, width,
                    gain, dark, shot, k0, k1, frame0, packed};
  return launch(a, stream);
}

cudaError_t launch_simulate_init(float* acc, float* comp, float* theta, int64_t batch, int64_t height,
                                 int64_t width, float threshold, float sigma, bool random_init, uint32_t k0,
                                 uint32_t k1, cudaStream_t stream) {
  const int64_t total = batch * height * width;
  return launch_grid_stride(simulate_init_kernel, total, 256, stream, acc, comp, theta, total, height * width,
                            threshold, sigma, random_init, k0, k1);
}

}  // namespace spikekit
