// torch binding of the TFSTP CUDA kernel (compiled only in CUDA builds): the same checks as the
// CPU entry (csrc/tfstp/checks.h), emit validated on the host (a small copy), device guard,
// current stream.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "checks.h"
#include "kernel.h"

namespace spikekit {
namespace {

void tfstp_frames_cuda(const at::Tensor& spikes, at::Tensor r, at::Tensor u, at::Tensor last,
                       const at::Tensor& emit, int64_t t0, int64_t origin, double u0, double d, double big_f,
                       double f, double scale, at::Tensor out) {
  const StpParams p{u0, d, big_f, f, scale};
  check_tfstp_call(spikes, r, u, last, emit, out, p);
  TORCH_CHECK(spikes.is_cuda(), "spikekit::tfstp_frames: spikes must be a CUDA tensor here, got ", spikes.device());
  const at::Tensor host_emit = emit.to(at::kCPU).contiguous();
  check_tfstp_emit(host_emit.data_ptr<int64_t>(), emit.size(0), spikes.size(0));
  const c10::cuda::CUDAGuard guard(spikes.device());
  const at::Tensor dev_emit = emit.to(spikes.device()).contiguous();
  check_launch(launch_tfstp_frames(spikes.data_ptr<uint8_t>(), r.data_ptr<double>(), u.data_ptr<double>(),
                                   last.data_ptr<int64_t>(), dev_emit.data_ptr<int64_t>(), out.data_ptr<float>(),
                                   emit.size(0), spikes.size(0), spikes.size(1), t0, origin, p,
                                   c10::cuda::getCurrentCUDAStream().stream()),
               "tfstp_frames");
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CUDA, m) { m.impl("tfstp_frames", &tfstp_frames_cuda); }

}  // namespace spikekit
