// CPU kernels of the classic reconstructions: TFP and TFI read straight from packed spike
// frames (the .dat bytes; the unpacked stream is never materialised), and the ISI of unpacked
// (N, T, P) batches. Per-element math: csrc/kernels/recon.h (shared with the CUDA kernels).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "../recon_checks.h"
#include "../kernels/bits.h"
#include "../kernels/recon.h"

namespace spikekit {
namespace {

constexpr int64_t kBlockBytes = 64;  // packed bytes (512 pixels) per work item

const std::array<uint64_t, 256>& lane_table() {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    for (int b = 0; b < 256; ++b) t[b] = spread_byte(static_cast<uint8_t>(b));
    return t;
  }();
  return table;
}

// Write `values` (file pixels p0 .. p0 + n - 1, in file order) into an (H, W) image, applying
// the row flip of the .dat layout; out(value) maps each value to the stored float.
template <typename Fn>
inline void store_block(float* image, int64_t p0, int64_t n, int64_t height, int64_t width,
                        bool flip, Fn out) {
  int64_t i = 0;
  while (i < n) {
    const int64_t p = p0 + i;
    const int64_t r = p / width;
    const int64_t c = p - r * width;
    const int64_t len = std::min(n - i, width - c);
    float* dst = image + file_row(r, height, flip) * width + c;
    for (int64_t q = 0; q < len; ++q) dst[q] = out(i + q);
    i += len;
  }
}

// --- TFP --------------------------------------------------------------------------------------

void tfp_into_cpu_impl(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                       const at::Tensor& centers, int64_t window, double scale, at::Tensor& out) {
  const int64_t k = check_packed_args(packed, height, width, centers, "tfp_packed");
  check_out(out, k, height, width, "tfp_packed");
  const int64_t frames = packed.size(0), nbytes = packed.size(1), npix = height * width;
  const int64_t* c = centers.data_ptr<int64_t>();
  check_tfp_centers(c, k, frames, window);
  const uint8_t* src = packed.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const float factor = static_cast<float>(scale / static_cast<double>(window));
  const uint64_t* table = lane_table().data();
  const int64_t blocks = (nbytes + kBlockBytes - 1) / kBlockBytes;

  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    alignas(64) int32_t count[kBlockBytes * 8];
    alignas(64) uint64_t add[kBlockBytes], sub[kBlockBytes];
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t j0 = blk * kBlockBytes;
      const int64_t nb = std::min(kBlockBytes, nbytes - j0);
      const int64_t p0 = j0 * 8;
      const int64_t np = std::min(nb * 8, npix - p0);
      int64_t cur_a = 0, cur_b = -1;  // window [cur_a, cur_b) held in count (none yet)
      for (int64_t i = 0; i < k; ++i) {
        const int64_t a = tfp_window_start(c[i], window), b = a + window;
        if (cur_b >= 0 && a >= cur_a && 2 * (a - cur_a) < window) {
          // Slide forward (cheaper than a recount when the step is < w/2): add frames
          // [cur_b, b), drop frames [cur_a, a), in SWAR byte lanes flushed every 255 frames.
          const auto flush = [&]() {
            const uint8_t* ad = reinterpret_cast<const uint8_t*>(add);
            const uint8_t* sd = reinterpret_cast<const uint8_t*>(sub);
            for (int64_t q = 0; q < nb * 8; ++q)
              count[q] += static_cast<int32_t>(ad[q]) - static_cast<int32_t>(sd[q]);
            std::memset(add, 0, sizeof(add));
            std::memset(sub, 0, sizeof(sub));
          };
          std::memset(add, 0, sizeof(add));
          std::memset(sub, 0, sizeof(sub));
          int pending = 0;
          for (int64_t f = cur_b, g = cur_a; f < b; ++f, ++g) {  // a - cur_a == b - cur_b
            const uint8_t* in = src + f * nbytes + j0;
            const uint8_t* outf = src + g * nbytes + j0;
            for (int64_t q = 0; q < nb; ++q) {
              add[q] += table[in[q]];
              sub[q] += table[outf[q]];
            }
            if (++pending == 255) {
              flush();
              pending = 0;
            }
          }
          if (pending) flush();
        } else {
          for (int64_t q = 0; q < nb; ++q) window_count_byte(src, nbytes, j0 + q, a, b, count + 8 * q);
        }
        cur_a = a;
        cur_b = b;
        store_block(dst + i * npix, p0, np, height, width, flip,
                    [&](int64_t q) { return tfp_value(count[q], factor); });
      }
    }
  });
}

void tfp_packed_into_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                         const at::Tensor& centers, int64_t window, double scale, at::Tensor out) {
  tfp_into_cpu_impl(packed, height, width, flip, centers, window, scale, out);
}

at::Tensor tfp_packed_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                          const at::Tensor& centers, int64_t window, double scale) {
  check_packed_args(packed, height, width, centers, "tfp_packed");
  at::Tensor out = at::empty({centers.size(0), height, width}, packed.options().dtype(at::kFloat));
  tfp_into_cpu_impl(packed, height, width, flip, centers, window, scale, out);
  return out;
}

// --- TFI from packed frames -------------------------------------------------------------------

void tfi_into_cpu_impl(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                       const at::Tensor& centers, int64_t max_interval, double scale,
                       at::Tensor& out) {
  const int64_t k = check_packed_args(packed, height, width, centers, "tfi_packed");
  check_out(out, k, height, width, "tfi_packed");
  const int64_t frames = packed.size(0), nbytes = packed.size(1), npix = height * width;
  const int64_t* c = centers.data_ptr<int64_t>();
  check_tfi_args(c, k, frames, max_interval, "tfi_packed");
  const uint8_t* src = packed.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const float s = static_cast<float>(scale);
  const int64_t blocks = (nbytes + kBlockBytes - 1) / kBlockBytes;

  at::parallel_for(0, k * blocks, 1, [&](int64_t begin, int64_t end) {
    int32_t isi[kBlockBytes * 8];
    for (int64_t item = begin; item < end; ++item) {
      const int64_t i = item / blocks, blk = item - i * blocks;
      const int64_t j0 = blk * kBlockBytes;
      const int64_t nb = std::min(kBlockBytes, nbytes - j0);
      const int64_t p0 = j0 * 8;
      for (int64_t q = 0; q < nb; ++q) isi_byte(src, nbytes, frames, j0 + q, c[i], max_interval, isi + 8 * q);
      store_block(dst + i * npix, p0, std::min(nb * 8, npix - p0), height, width, flip,
                  [&](int64_t q) { return tfi_value(isi[q], s); });
    }
  });
}

void tfi_packed_into_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                         const at::Tensor& centers, int64_t max_interval, double scale,
                         at::Tensor out) {
  tfi_into_cpu_impl(packed, height, width, flip, centers, max_interval, scale, out);
}

at::Tensor tfi_packed_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                          const at::Tensor& centers, int64_t max_interval, double scale) {
  check_packed_args(packed, height, width, centers, "tfi_packed");
  at::Tensor out = at::empty({centers.size(0), height, width}, packed.options().dtype(at::kFloat));
  tfi_into_cpu_impl(packed, height, width, flip, centers, max_interval, scale, out);
  return out;
}

// --- ISI of unpacked (N, T, P) batches ----------------------------------------------------------

constexpr int64_t kIsiBlock = 4096;  // pixels per work item (long sequential row reads)

// ISI of `n` (<= kIsiBlock) neighbouring pixels, by whole frame rows: the backward search walks
// from the far end towards t and the forward search from the far end back towards t + 1, each
// frame overwriting the offset where it holds a spike, so the nearest spike is written last.
// Branch-free selects over contiguous rows vectorise; offsets are kept in D (uint8 for byte
// inputs with M <= 127, so 64 pixels per AVX-512 op; int32 otherwise).
template <typename T, typename D>
void isi_block(const T* s, int64_t stride, int64_t frames, int64_t t, int64_t m, int64_t n,
               float* out) {
  D dl[kIsiBlock], dr[kIsiBlock];
  for (int64_t p = 0; p < n; ++p) dl[p] = dr[p] = static_cast<D>(m);
  for (int64_t f = std::max<int64_t>(t - m + 1, 0); f <= t; ++f) {
    const T* row = s + f * stride;
    const D off = static_cast<D>(t - f);
    for (int64_t p = 0; p < n; ++p) dl[p] = is_spike(row[p]) ? off : dl[p];
  }
  for (int64_t f = std::min(t + m - 1, frames - 1); f > t; --f) {
    const T* row = s + f * stride;
    const D off = static_cast<D>(f - t);
    for (int64_t p = 0; p < n; ++p) dr[p] = is_spike(row[p]) ? off : dr[p];
  }
  for (int64_t p = 0; p < n; ++p) out[p] = static_cast<float>(static_cast<int32_t>(dl[p]) + dr[p]);
}

template <typename T, typename D>
void isi_run_as(const T* src, int64_t n, int64_t bstride, int64_t frames, int64_t npix,
                const int64_t* c, int64_t k, int64_t max_interval, float* dst) {
  const int64_t blocks = (npix + kIsiBlock - 1) / kIsiBlock;
  at::parallel_for(0, n * k * blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / (k * blocks), rest = item - b * k * blocks;
      const int64_t i = rest / blocks, p0 = (rest - i * blocks) * kIsiBlock;
      isi_block<T, D>(src + b * bstride + p0, npix, frames, c[i], max_interval,
                      std::min(kIsiBlock, npix - p0), dst + (b * k + i) * npix + p0);
    }
  });
}

template <typename T>
void isi_run(const T* src, int64_t n, int64_t bstride, int64_t frames, int64_t npix,
             const int64_t* c, int64_t k, int64_t max_interval, float* dst) {
  if (max_interval <= 127)
    isi_run_as<T, uint8_t>(src, n, bstride, frames, npix, c, k, max_interval, dst);
  else
    isi_run_as<T, int32_t>(src, n, bstride, frames, npix, c, k, max_interval, dst);
}

at::Tensor isi_cpu(const at::Tensor& spikes, const at::Tensor& centers, int64_t max_interval) {
  check_isi_spikes(spikes);
  const auto st = spikes.scalar_type();
  TORCH_CHECK(centers.scalar_type() == at::kLong && centers.dim() == 1 && centers.is_contiguous() &&
                  centers.device().is_cpu(),
              "spikekit::isi: centers must be a contiguous 1-D int64 CPU tensor");
  const int64_t n = spikes.size(0), frames = spikes.size(1), npix = spikes.size(2);
  const int64_t k = centers.size(0);
  const int64_t* c = centers.data_ptr<int64_t>();
  check_tfi_args(c, k, frames, max_interval, "isi");
  at::Tensor out = at::empty({n, k, npix}, spikes.options().dtype(at::kFloat));
  float* dst = out.data_ptr<float>();
  const int64_t bstride = spikes.stride(0);
  switch (st) {
    case at::kByte:
      isi_run(spikes.data_ptr<uint8_t>(), n, bstride, frames, npix, c, k, max_interval, dst);
      break;
    case at::kBool:
      isi_run(reinterpret_cast<const uint8_t*>(spikes.data_ptr<bool>()), n, bstride, frames, npix,
              c, k, max_interval, dst);
      break;
    default: isi_run(spikes.data_ptr<float>(), n, bstride, frames, npix, c, k, max_interval, dst);
  }
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CPU, m) {
  m.impl("tfp_packed", &tfp_packed_cpu);
  m.impl("tfp_packed_into", &tfp_packed_into_cpu);
  m.impl("tfi_packed", &tfi_packed_cpu);
  m.impl("tfi_packed_into", &tfi_packed_into_cpu);
  m.impl("isi", &isi_cpu);
}

}  // namespace spikekit
