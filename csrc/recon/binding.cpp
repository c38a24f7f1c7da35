// torch bindings of the CUDA reconstruction kernels (compiled only in CUDA builds). Centres are
// validated on the host (a small copy), then read by the kernels from device memory.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "checks.h"
#include "kernel.h"

namespace spikekit {
namespace {

// Host copy of the centres (for validation) and a device copy (for the kernel).
std::pair<at::Tensor, at::Tensor> host_and_device(const at::Tensor& centres, const at::Device& dev) {
  return {centres.to(at::kCPU).contiguous(), centres.to(dev).contiguous()};
}

void check_on_cuda(const at::Tensor& t, const char* op, const char* arg) {
  TORCH_CHECK(t.is_cuda(), "spikekit::", op, ": ", arg, " must be a CUDA tensor here, got ", t.device());
}

// Checks shared by the packed entries; returns the centres on the host and on the device.
std::pair<at::Tensor, at::Tensor> prepare_packed(const at::Tensor& packed, int64_t height, int64_t width,
                                                 const at::Tensor& centres, const at::Tensor& out,
                                                 const char* op) {
  const int64_t k = check_packed_args(packed, height, width, centres, op);
  check_on_cuda(packed, op, "packed");
  check_out(out, k, height, width, op);
  TORCH_CHECK(out.device() == packed.device(), "spikekit::", op, ": out must be on ", packed.device());
  return host_and_device(centres, packed.device());
}

void tfp_packed_out_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                          const at::Tensor& centres, int64_t window, double scale, at::Tensor out) {
  auto [hc, dc] = prepare_packed(packed, height, width, centres, out, "tfp_packed");
  const c10::cuda::CUDAGuard guard(packed.device());
  const int64_t k = hc.size(0);
  check_tfp_centres(hc.data_ptr<int64_t>(), k, packed.size(0), window);
  check_launch(launch_tfp_packed(packed.data_ptr<uint8_t>(), dc.data_ptr<int64_t>(),
                                 out.data_ptr<float>(), k, packed.size(0), height, width, flip,
                                 window, static_cast<float>(scale),
                                 c10::cuda::getCurrentCUDAStream().stream()),
               "tfp_packed");
}

void tfi_packed_out_cuda(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                          const at::Tensor& centres, int64_t max_interval, double scale,
                          at::Tensor out) {
  auto [hc, dc] = prepare_packed(packed, height, width, centres, out, "tfi_packed");
  const c10::cuda::CUDAGuard guard(packed.device());
  const int64_t k = hc.size(0);
  check_tfi_args(hc.data_ptr<int64_t>(), k, packed.size(0), max_interval, "tfi_packed");
  check_launch(launch_tfi_packed(packed.data_ptr<uint8_t>(), dc.data_ptr<int64_t>(),
                                 out.data_ptr<float>(), k, packed.size(0), height, width, flip,
                                 max_interval, static_cast<float>(scale),
                                 c10::cuda::getCurrentCUDAStream().stream()),
               "tfi_packed");
}

at::Tensor isi_cuda(const at::Tensor& spikes, const at::Tensor& centres, int64_t max_interval) {
  check_isi_spikes(spikes);
  check_on_cuda(spikes, "isi", "spikes");
  const auto st = spikes.scalar_type();
  TORCH_CHECK(centres.scalar_type() == at::kLong && centres.dim() == 1,
              "spikekit::isi: centres must be a 1-D int64 tensor");
  const int64_t n = spikes.size(0), frames = spikes.size(1), npix = spikes.size(2);
  const int64_t k = centres.size(0);
  const c10::cuda::CUDAGuard guard(spikes.device());
  auto [hc, dc] = host_and_device(centres, spikes.device());
  check_tfi_args(hc.data_ptr<int64_t>(), k, frames, max_interval, "isi");
  at::Tensor out = at::empty({n, k, npix}, spikes.options().dtype(at::kFloat));
  const auto stream = c10::cuda::getCurrentCUDAStream().stream();
  if (st == at::kFloat) {
    check_launch(launch_isi_f32(spikes.data_ptr<float>(), dc.data_ptr<int64_t>(), out.data_ptr<float>(),
                                n, spikes.stride(0), frames, npix, k, max_interval, stream), "isi");
  } else {  // bool is stored as one byte of 0/1
    const uint8_t* src = st == at::kBool ? reinterpret_cast<const uint8_t*>(spikes.data_ptr<bool>())
                                         : spikes.data_ptr<uint8_t>();
    check_launch(launch_isi_u8(src, dc.data_ptr<int64_t>(), out.data_ptr<float>(), n, spikes.stride(0), frames, npix,
                               k, max_interval, stream), "isi");
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CUDA, m) {
  m.impl("tfp_packed", &packed_functional<tfp_packed_out_cuda>);
  m.impl("tfp_packed.out", &tfp_packed_out_cuda);
  m.impl("tfi_packed", &packed_functional<tfi_packed_out_cuda>);
  m.impl("tfi_packed.out", &tfi_packed_out_cuda);
  m.impl("isi", &isi_cuda);
}

}  // namespace spikekit
