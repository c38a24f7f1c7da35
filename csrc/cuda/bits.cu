// CUDA kernels for the .dat bit layout; the per-element math is csrc/kernels/bits.h, shared
// with the CPU kernels.
#include <cuda_runtime.h>

#include "../kernels/bits.h"
#include "launch.h"

namespace spikekit {
namespace {

__global__ void unpack_kernel(const uint8_t* __restrict__ packed, uint8_t* __restrict__ out,
                              int64_t total, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t t = i / npix;
    const int64_t q = i - t * npix;
    const int64_t r = q / width;
    const int64_t c = q - r * width;
    out[i] = get_bit(packed + t * nbytes, file_row(r, height, flip) * width + c);
  }
}

__global__ void pack_kernel(const uint8_t* __restrict__ spikes, uint8_t* __restrict__ out,
                            int64_t total, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    const int64_t t = i / nbytes;
    out[i] = pack_byte(spikes + t * npix, i - t * nbytes, height, width, flip);
  }
}

__global__ void pixel_counts_kernel(const uint8_t* __restrict__ packed, int64_t* __restrict__ out,
                                    int64_t frames, int64_t height, int64_t width, bool flip) {
  const int64_t npix = height * width;
  const int64_t nbytes = frame_bytes(height, width);
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < npix;
       p += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    int64_t n = 0;
    for (int64_t t = 0; t < frames; ++t) n += get_bit(packed + t * nbytes, p);
    out[image_index_of_file_pixel(p, height, width, flip)] = n;
  }
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
  const int64_t npix = height * width;
  pixel_counts_kernel<<<grid_for(npix, 256), 256, 0, stream>>>(packed, pixel_counts, frames, height,
                                                               width, flip);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || frames == 0) return err;
  frame_counts_kernel<<<static_cast<unsigned int>(frames), 256, 0, stream>>>(
      packed, frame_counts, frame_bytes(height, width));
  return cudaGetLastError();
}

cudaError_t launch_unpack_spikes(const uint8_t* packed, uint8_t* out, int64_t frames,
                                 int64_t height, int64_t width, bool flip, cudaStream_t stream) {
  const int64_t total = frames * height * width;
  if (total == 0) return cudaSuccess;
  unpack_kernel<<<grid_for(total, 256), 256, 0, stream>>>(packed, out, total, height, width, flip);
  return cudaGetLastError();
}

cudaError_t launch_pack_spikes(const uint8_t* spikes, uint8_t* out, int64_t frames,
                               int64_t height, int64_t width, bool flip, cudaStream_t stream) {
  const int64_t total = frames * frame_bytes(height, width);
  if (total == 0) return cudaSuccess;
  pack_kernel<<<grid_for(total, 256), 256, 0, stream>>>(spikes, out, total, height, width, flip);
  return cudaGetLastError();
}

}  // namespace spikekit
