// CUDA kernels for the .dat bit layout; the per-element math is csrc/bits/math.h, shared with
// the CPU kernels (csrc/bits/cpu.cpp).
#include <cuda_runtime.h>

#include "../common/cuda.h"
#include "kernel.h"
#include "math.h"

namespace spikekit {
namespace {

__global__ void unpack_kernel(const uint8_t* __restrict__ packed, uint8_t* __restrict__ out,
                              int64_t total, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  grid_stride(total, [&](int64_t i) {
    const int64_t t = i / npix;
    const int64_t q = i - t * npix;
    const int64_t r = q / width;
    const int64_t c = q - r * width;
    out[i] = get_bit(packed + t * nbytes, file_row(r, height, flip) * width + c);
  });
}

__global__ void pack_kernel(const uint8_t* __restrict__ spikes, uint8_t* __restrict__ out,
                            int64_t total, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  grid_stride(total, [&](int64_t i) {
    const int64_t t = i / nbytes;
    out[i] = pack_byte(spikes + t * npix, i - t * nbytes, height, width, flip);
  });
}

__global__ void pixel_counts_kernel(const uint8_t* __restrict__ packed, int64_t* __restrict__ out,
                                    int64_t frames, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  grid_stride(npix, [&](int64_t p) {
    int64_t n = 0;
    for (int64_t t = 0; t < frames; ++t) n += get_bit(packed + t * nbytes, p);
    out[image_index_of_file_pixel(p, height, width, flip)] = n;
  });
}

__global__ void frame_counts_kernel(const uint8_t* __restrict__ packed, int64_t* __restrict__ out,
                                    int64_t nbytes) {
  __shared__ int64_t partial[256];
  const uint8_t* frame = packed + blockIdx.x * nbytes;
  int64_t n = 0;
  for (int64_t j = threadIdx.x; j < nbytes; j += blockDim.x) n += popcount8(frame[j]);
  partial[threadIdx.x] = n;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) partial[threadIdx.x] += partial[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}

}  // namespace

cudaError_t launch_spike_counts(const uint8_t* packed, int64_t* pixel_counts, int64_t* frame_counts,
                                int64_t frames, int64_t height, int64_t width, bool flip,
                                cudaStream_t stream) {
  const cudaError_t err = launch_grid_stride(pixel_counts_kernel, height * width, 256, stream, packed,
                                             pixel_counts, frames, height, width, flip);
  if (err != cudaSuccess || frames == 0) return err;
  frame_counts_kernel<<<static_cast<unsigned int>(frames), 256, 0, stream>>>(
      packed, frame_counts, frame_bytes(height, width));
  return cudaGetLastError();
}

cudaError_t launch_unpack_spikes(const uint8_t* packed, uint8_t* out, int64_t frames,
                                 int64_t height, int64_t width, bool flip, cudaStream_t stream) {
  const int64_t total = frames * height * width;
  return launch_grid_stride(unpack_kernel, total, 256, stream, packed, out, total, height, width, flip);
}

cudaError_t launch_pack_spikes(const uint8_t* spikes, uint8_t* out, int64_t frames,
                               int64_t height, int64_t width, bool flip, cudaStream_t stream) {
  const int64_t total = frames * frame_bytes(height, width);
  return launch_grid_stride(pack_kernel, total, 256, stream, spikes, out, total, height, width, flip);
}

}  // namespace spikekit
