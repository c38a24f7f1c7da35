// torch bindings of the CUDA bit-layout kernels (compiled only in CUDA builds).
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <tuple>

#include "../common/cuda.h"
#include "checks.h"
#include "kernel.h"

namespace spikekit {
namespace {

void unpack_spikes_out_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                             at::Tensor out) {
  check_packed(packed, height, width, "unpack_spikes.out");
  check_unpack_out(packed, height, width, out, "unpack_spikes.out");
  const c10::cuda::CUDAGuard guard(packed.device());
  check_launch(launch_unpack_spikes(packed.data_ptr<uint8_t>(), out.data_ptr<uint8_t>(),
                                    packed.size(0), height, width, flip,
                                    c10::cuda::getCurrentCUDAStream().stream()),
               "unpack_spikes.out");
}

at::Tensor unpack_spikes_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip) {
  check_packed(packed, height, width, "unpack_spikes");
  at::Tensor out = at::empty({packed.size(0), height, width}, packed.options());
  unpack_spikes_out_cuda(packed, height, width, flip, out);
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
                                  c10::cuda::getCurrentCUDAStream().stream()),
               "pack_spikes");
  return out;
}

std::tuple<at::Tensor, at::Tensor> spike_counts_cuda(const at::Tensor& packed, int64_t height,
                                                     int64_t width, bool flip) {
  check_packed(packed, height, width, "spike_counts");
  TORCH_CHECK(packed.size(0) < 2147483647, "spikekit::spike_counts: too many frames in one call");
  at::Tensor per_pixel = at::empty({height, width}, packed.options().dtype(at::kLong));
  at::Tensor per_frame = at::empty({packed.size(0)}, packed.options().dtype(at::kLong));
  const c10::cuda::CUDAGuard guard(packed.device());
  check_launch(launch_spike_counts(packed.data_ptr<uint8_t>(), per_pixel.data_ptr<int64_t>(),
                                   per_frame.data_ptr<int64_t>(), packed.size(0), height, width, flip,
                                   c10::cuda::getCurrentCUDAStream().stream()),
               "spike_counts");
  return {per_pixel, per_frame};
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CUDA, m) {
  m.impl("spike_counts", &spike_counts_cuda);
  m.impl("unpack_spikes", &unpack_spikes_cuda);
  m.impl("unpack_spikes.out", &unpack_spikes_out_cuda);
  m.impl("pack_spikes", &pack_spikes_cuda);
}

}  // namespace spikekit
