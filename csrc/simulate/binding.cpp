// torch bindings of the CUDA simulator kernels (compiled only in CUDA builds): the same checks
// as the CPU entries (csrc/simulate/checks.h), device guard, current stream.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "../common/cuda.h"
#include "checks.h"
#include "kernel.h"

namespace spikekit {
namespace {

void simulate_init_cuda(at::Tensor acc, at::Tensor comp, at::Tensor theta, double threshold, double sigma,
                        bool random_init, int64_t seed) {
  check_sim_state(acc, comp, theta, "simulate_init");
  const c10::cuda::CUDAGuard guard(acc.device());
  check_launch(launch_simulate_init(acc.data_ptr<float>(), comp.data_ptr<float>(), theta.data_ptr<float>(),
                                    acc.size(0), acc.size(1), acc.size(2), static_cast<float>(threshold),
                                    static_cast<float>(sigma), random_init, seed_lo(seed), seed_hi(seed),
                                    c10::cuda::getCurrentCUDAStream().stream()),
               "simulate_init");
}

void simulate_frames_cuda(const at::Tensor& intensity, at::Tensor acc, at::Tensor comp, const at::Tensor& theta,
                          double gain, double dark, double shot, int64_t seed, int64_t frame0, bool packed,
                          at::Tensor out) {
  const char* op = "simulate_frames";
  check_frames_call(intensity, acc, comp, theta, frame0, packed, out);
  const c10::cuda::CUDAGuard guard(acc.device());
  check_launch(launch_simulate_frames(intensity.data_ptr<float>(), acc.data_ptr<float>(), comp.data_ptr<float>(),
                                      theta.data_ptr<float>(), out.data_ptr<uint8_t>(), acc.size(0),
                                      intensity.size(1), acc.size(1), acc.size(2), static_cast<float>(gain),
                                      static_cast<float>(dark), static_cast<float>(shot), seed_lo(seed),
                                      seed_hi(seed), frame0, packed, c10::cuda::getCurrentCUDAStream().stream()),
               op);
}

void simulate_interp_cuda(const at::Tensor& start, const at::Tensor& delta, const at::Tensor& alpha, at::Tensor acc,
                          at::Tensor comp, const at::Tensor& theta, double gain, double dark, double shot,
                          int64_t seed, int64_t frame0, bool packed, at::Tensor out) {
  const char* op = "simulate_interp";
  check_interp_call(start, delta, alpha, acc, comp, theta, frame0, packed, out);
  const c10::cuda::CUDAGuard guard(acc.device());
  check_launch(launch_simulate_interp(start.data_ptr<float>(), delta.data_ptr<float>(), alpha.data_ptr<float>(),
                                      acc.data_ptr<float>(), comp.data_ptr<float>(), theta.data_ptr<float>(),
                                      out.data_ptr<uint8_t>(), acc.size(0), alpha.size(0), acc.size(1),
                                      acc.size(2), static_cast<float>(gain), static_cast<float>(dark),
                                      static_cast<float>(shot), seed_lo(seed), seed_hi(seed), frame0, packed,
                                      c10::cuda::getCurrentCUDAStream().stream()),
               op);
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CUDA, m) {
  m.impl("simulate_init", &simulate_init_cuda);
  m.impl("simulate_frames", &simulate_frames_cuda);
  m.impl("simulate_interp", &simulate_interp_cuda);
}

}  // namespace spikekit
