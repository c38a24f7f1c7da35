// CPU kernel of the TFSTP recurrence: per-element math csrc/tfstp/math.h (shared with CUDA);
// this file only arranges the loops. Each work item is a block of pixels whose state stays in
// cache while the frames of the call pass through it, frame by frame. Intervals are whole spike
// frames, so the decays of the short ones come from a table of the same stp_decay values
// (identical bits, two loads instead of two exp calls per spike). The loops are compiled once
// per instruction set and chosen at run time (csrc/common/dispatch.h).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <vector>

#include "../common/dispatch.h"
#include "checks.h"
#include "math.h"

namespace spikekit {
namespace {

constexpr int64_t kBlock = 512;        // pixels per work item
constexpr int64_t kDecayTable = 1024;  // intervals (spike frames) whose decays are tabulated

void tfstp_frames_cpu(const at::Tensor& spikes, at::Tensor r, at::Tensor u, at::Tensor last,
                      const at::Tensor& emit, int64_t t0, int64_t origin, double u0, double d, double big_f,
                      double f, double scale, at::Tensor out) {
  const StpParams p{u0, d, big_f, f, scale};
  check_tfstp_call(spikes, r, u, last, emit, out, p);
  const int64_t frames = spikes.size(0), npix = spikes.size(1), k = emit.size(0);
  const int64_t* em = emit.data_ptr<int64_t>();
  check_tfstp_emit(em, k, frames);
  const uint8_t* s = spikes.data_ptr<uint8_t>();
  double* pr = r.data_ptr<double>();
  double* pu = u.data_ptr<double>();
  int64_t* pl = last.data_ptr<int64_t>();
  float* dst = out.data_ptr<float>();
  std::vector<double> decay_d(kDecayTable), decay_f(kDecayTable);
  for (int64_t delta = 0; delta < kDecayTable; ++delta) {
    decay_d[delta] = stp_decay(delta, d);
    decay_f[delta] = stp_decay(delta, big_f);
  }
  const int64_t blocks = (npix + kBlock - 1) / kBlock;
  const double* dd = decay_d.data();
  const double* df = decay_f.data();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    cpu_dispatch([&](auto) {
      for (int64_t blk = begin; blk < end; ++blk) {
        const int64_t p0 = blk * kBlock, p1 = std::min(npix, p0 + kBlock);
        int64_t j = 0;  // next output
        for (int64_t i = 0; i < frames; ++i) {
          const int64_t t = t0 + i;
          const uint8_t* row = s + i * npix;
          for (int64_t q = p0; q < p1; ++q) {
            if (row[q]) {
              const int64_t delta = t - pl[q];
              if (static_cast<uint64_t>(delta) < static_cast<uint64_t>(kDecayTable))
                stp_spike(pr[q], pu[q], dd[delta], df[delta], p);
              else
                stp_spike(pr[q], pu[q], stp_decay(delta, d), stp_decay(delta, big_f), p);
              pl[q] = t;
            }
          }
          for (; j < k && em[j] == i; ++j) {
            float* image = dst + j * npix;
            for (int64_t q = p0; q < p1; ++q) image[q] = stp_intensity(pr[q], pu[q], pl[q] >= origin, p);
          }
        }
      }
    });
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CPU, m) { m.impl("tfstp_frames", &tfstp_frames_cpu); }

}  // namespace spikekit
