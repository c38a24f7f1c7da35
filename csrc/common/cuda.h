// CUDA helpers shared by every family: the grid size and grid-stride loop of the kernels
// (csrc/*/kernel.cu, compiled by nvcc without any torch header) and the launch check of the
// torch bindings (csrc/*/binding.cpp, compiled by the host compiler against torch).
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#if !defined(__CUDACC__)
#include <c10/util/Exception.h>
#endif

namespace spikekit {

// Grid size for `n` work items at `block` threads each, capped for grid-stride loops.
inline unsigned int grid_for(int64_t n, int block) {
  const int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned int>(blocks < 65535 * 32 ? (blocks > 0 ? blocks : 1) : 65535 * 32);
}

#if defined(__CUDACC__)
// body(i) for every i in [0, n) owned by this thread (int64 indices, any grid size).
template <typename Fn>
__device__ __forceinline__ void grid_stride(int64_t n, Fn&& body) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
    body(i);
}

// Launch a grid-stride `kernel` over `n` work items (nothing to do when n == 0) and return the
// launch error.
template <typename... Params, typename... Args>
cudaError_t launch_grid_stride(void (*kernel)(Params...), int64_t n, int block, cudaStream_t stream,
                               Args&&... args) {
  if (n == 0) return cudaSuccess;
  kernel<<<grid_for(n, block), block, 0, stream>>>(std::forward<Args>(args)...);
  return cudaGetLastError();
}
#else
// A launch_* result as the op's error (bindings only).
inline void check_launch(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, "spikekit::", op, ": CUDA launch failed: ", cudaGetErrorString(err));
}
#endif

}  // namespace spikekit
