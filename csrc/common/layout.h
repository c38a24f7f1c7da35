// Definitions shared by the per-element helpers of every family (csrc/*/math.h), for both the
// CPU (C++) and the CUDA translation units: the host/device qualifier and the packed-frame size
// and row order. Nothing here includes a torch header, so csrc/*/kernel.cu compile with plain
// nvcc.
#pragma once
#include <cstdint>

#if defined(__CUDACC__)
#define SK_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define SK_HOST_DEVICE inline
#endif

namespace spikekit {

// Bytes of one packed spike frame of H x W pixels: each frame is padded to a whole byte.
SK_HOST_DEVICE int64_t frame_bytes(int64_t height, int64_t width) {
  return (height * width + 7) / 8;
}

// Row of the .dat file that holds image row `row` (row 0 = top of the image).
// Files are stored bottom-up, so with flip the top image row is the last file row.
SK_HOST_DEVICE int64_t file_row(int64_t row, int64_t height, bool flip) {
  return flip ? height - 1 - row : row;
}

}  // namespace spikekit
