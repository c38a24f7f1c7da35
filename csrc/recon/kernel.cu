// CUDA kernels of the classic reconstructions (TFP/TFI from packed frames, ISI of unpacked
// batches). The per-element math is csrc/recon/math.h, shared with the CPU kernels
// (csrc/recon/cpu.cpp), so the CPU tests exercise the same arithmetic.
#include <cuda_runtime.h>

#include "../bits/math.h"
#include "../common/cuda.h"
#include "kernel.h"
#include "math.h"

namespace spikekit {
namespace {

// One thread per (centre, packed byte): the 8 pixels of that byte.
__device__ __forceinline__ void store8(float* image, int64_t j, int64_t height, int64_t width,
                                       bool flip, const float v[8]) {
  const int64_t npix = height * width;
  for (int k = 0; k < 8; ++k) {
    const int64_t p = j * 8 + k;
    if (p < npix) image[image_index_of_file_pixel(p, height, width, flip)] = v[k];
  }
}

__global__ void tfp_kernel(const uint8_t* __restrict__ packed, const int64_t* __restrict__ centres,
                           float* __restrict__ out, int64_t k, int64_t nbytes, int64_t height,
                           int64_t width, bool flip, int64_t window, float factor) {
  const int64_t total = k * nbytes;
  grid_stride(total, [&](int64_t i) {
    const int64_t c = i / nbytes, j = i - c * nbytes;
    const int64_t a = tfp_window_start(centres[c], window);
    int32_t count[8];
    window_count_byte(packed, nbytes, j, a, a + window, count);
    float v[8];
    for (int q = 0; q < 8; ++q) v[q] = tfp_value(count[q], factor);
    store8(out + c * height * width, j, height, width, flip, v);
  });
}

__global__ void tfi_kernel(const uint8_t* __restrict__ packed, const int64_t* __restrict__ centres,
                           float* __restrict__ out, int64_t k, int64_t frames, int64_t nbytes,
                           int64_t height, int64_t width, bool flip, int64_t max_interval,
                           float scale) {
  const int64_t total = k * nbytes;
  grid_stride(total, [&](int64_t i) {
    const int64_t c = i / nbytes, j = i - c * nbytes;
    int32_t isi[8];
    isi_byte(packed, nbytes, frames, j, centres[c], max_interval, isi);
    float v[8];
    for (int q = 0; q < 8; ++q) v[q] = tfi_value(isi[q], scale);
    store8(out + c * height * width, j, height, width, flip, v);
  });
}

// One thread per (sample, centre, pixel); neighbouring threads read neighbouring pixels.
template <typename T>
__global__ void isi_kernel(const T* __restrict__ spikes, const int64_t* __restrict__ centres,
                           float* __restrict__ out, int64_t n, int64_t bstride, int64_t frames,
                           int64_t npix, int64_t k, int64_t max_interval) {
  const int64_t total = n * k * npix;
  grid_stride(total, [&](int64_t i) {
    const int64_t b = i / (k * npix), rest = i - b * k * npix;
    const int64_t c = rest / npix, p = rest - c * npix;
    out[i] = static_cast<float>(
        isi_pixel(spikes + b * bstride + p, npix, frames, centres[c], max_interval));
  });
}

}  // namespace

cudaError_t launch_tfp_packed(const uint8_t* packed, const int64_t* centres, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t window, float scale, cudaStream_t stream) {
  (void)frames;
  const int64_t nbytes = frame_bytes(height, width);
  const float factor = static_cast<float>(static_cast<double>(scale) / static_cast<double>(window));
  return launch_grid_stride(tfp_kernel, k * nbytes, 256, stream, packed, centres, out, k, nbytes, height,
                            width, flip, window, factor);
}

cudaError_t launch_tfi_packed(const uint8_t* packed, const int64_t* centres, float* out, int64_t k,
                              int64_t frames, int64_t height, int64_t width, bool flip,
                              int64_t max_interval, float scale, cudaStream_t stream) {
  const int64_t nbytes = frame_bytes(height, width);
  return launch_grid_stride(tfi_kernel, k * nbytes, 256, stream, packed, centres, out, k, frames, nbytes,
                            height, width, flip, max_interval, scale);
}

template <typename T>
cudaError_t launch_isi(const T* spikes, const int64_t* centres, float* out, int64_t n, int64_t bstride,
                       int64_t frames, int64_t npix, int64_t k, int64_t max_interval,
                       cudaStream_t stream) {
  return launch_grid_stride(isi_kernel<T>, n * k * npix, 256, stream, spikes, centres, out, n, bstride,
                            frames, npix, k, max_interval);
}

cudaError_t launch_isi_u8(const uint8_t* spikes, const int64_t* centres, float* out, int64_t n,
                          int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                          int64_t max_interval, cudaStream_t stream) {
  return launch_isi(spikes, centres, out, n, bstride, frames, npix, k, max_interval, stream);
}

cudaError_t launch_isi_f32(const float* spikes, const int64_t* centres, float* out, int64_t n,
                           int64_t bstride, int64_t frames, int64_t npix, int64_t k,
                           int64_t max_interval, cudaStream_t stream) {
  return launch_isi(spikes, centres, out, n, bstride, frames, npix, k, max_interval, stream);
}

}  // namespace spikekit
