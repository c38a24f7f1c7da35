// torch bindings of the CUDA bit-layout kernels (compiled only in CUDA builds).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../checks.h"
#include "../kernels/common.h"
#include "launch.h"

namespace spikekit {
namespace {

void check_launch(cudaError_t err, const char* op) {
  TORCH_CHECK(err == cudaSuccess, "spikekit::", op, ": CUDA launch failed: ", cudaGetErrorString(err));
}

void unpack_spikes_into_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                             at::Tensor out) {
  check_size(height, width, "unpack_spikes_into");
  check_uint8(packed, "unpack_spikes_into", "packed", 2);
  check_uint8(out, "unpack_spikes_into", "out", 3);
  TORCH_CHECK(packed.size(1) == frame_bytes(height, width),
              "spikekit::unpack_spikes_into: packed must have ", frame_bytes(height, width),
              " bytes per frame, got ", packed.size(1));
  TORCH_CHECK(out.device() == packed.device(), "spikekit::unpack_spikes_into: out must be on ",
              packed.device());
  TORCH_CHECK(out.size(0) == packed.size(0) && out.size(1) == height && out.size(2) == width,
              "spikekit::unpack_spikes_into: out must have shape (", packed.size(0), ", ", height,
              ", ", width, "), got ", out.sizes());
  const c10::cuda::CUDAGuard guard(packed.device());
  check_launch(launch_unpack_spikes(packed.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(),
                                    packed.size(0), height, width, flip,
                                    at::cuda::getCurrentCUDAStream()),
               "unpack_spikes_into");
}

at::Tensor unpack_spikes_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip) {
  check_uint8(packed, "unpack_spikes", "packed", 2);
  at::Tensor out = at::empty({packed.size(0), height, width}, packed.options());
  unpack_spikes_into_cuda(packed, height, width, flip, out);
  return out;
}

at::Tensor pack_spikes_cuda(const at::Tensor& spikes, bool flip) {
  check_uint8(spikes, "pack_spikes", "spikes", 3);
  const int64_t height = spikes.size(1), width = spikes.size(2);
  check_size(height, width, "pack_spikes");
  at::Tensor out = at::empty({spikes.size(0), frame_bytes(height, width)}, spikes.options());
  const c10::cuda::CUDAGuard guard(spikes.device());
  check_launch(launch_pack_spikes(spikes.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(),
                                  spikes.size(0), height, width, flip,
                                  at::cuda::getCurrentCUDAStream()),
               "pack_spikes");
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CUDA, m) {
  m.impl("unpack_spikes", &unpack_spikes_cuda);
  m.impl("unpack_spikes_into", &unpack_spikes_into_cuda);
  m.impl("pack_spikes", &pack_spikes_cuda);
}

}  // namespace spikekit
