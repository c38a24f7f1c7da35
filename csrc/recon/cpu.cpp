// CPU kernels of the classic reconstructions: TFP and TFI read straight from packed spike
// frames (the .dat bytes; the unpacked stream is never materialised), and the ISI of unpacked
// (N, T, P) batches. Per-element math: csrc/recon/math.h (shared with the CUDA kernels). The
// loops are compiled once per instruction set and chosen at run time (csrc/common/dispatch.h).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../bits/math.h"
#include "../common/dispatch.h"
#if SK_HAVE_X86_PATHS
#include "../common/simd.h"
#endif
#include "checks.h"
#include "math.h"

namespace spikekit {
namespace {

constexpr int64_t kBlockBytes = 64;  // packed bytes (512 pixels) per work item

// Call run(q, len, image_index) for each run of file pixels p0 + q .. p0 + q + len - 1 that lies
// in one image row, image_index being the (H, W) index of its first pixel (the .dat row flip
// applied).
template <typename Fn>
inline void for_each_row_run(int64_t p0, int64_t n, int64_t height, int64_t width, bool flip, Fn run) {
  int64_t i = 0;
  while (i < n) {
    const int64_t p = p0 + i;
    const int64_t r = p / width;
    const int64_t c = p - r * width;
    const int64_t len = std::min(n - i, width - c);
    run(i, len, file_row(r, height, flip) * width + c);
    i += len;
  }
}

// Write `values` (file pixels p0 .. p0 + n - 1, in file order) into an (H, W) image, applying
// the row flip of the .dat layout; out(q) gives the float stored for file pixel p0 + q.
template <typename Fn>
inline void store_block(float* image, int64_t p0, int64_t n, int64_t height, int64_t width,
                        bool flip, Fn out) {
  for_each_row_run(p0, n, height, width, flip, [&](int64_t i, int64_t len, int64_t index) {
    float* dst = image + index;
    for (int64_t q = 0; q < len; ++q) dst[q] = out(i + q);
  });
}

// TFP values of `len` counts into dst with non-temporal (streaming) stores on the vector paths:
// the outputs are far larger than the caches and are not read back by the kernel, so bypassing
// the cache avoids reading every output line before writing it. Same values as tfp_value
// (min(count * factor, 1)); dst + q is aligned to the vector first (plain stores up to there).
#if SK_HAVE_X86_PATHS
SK_TARGET_AVX2 inline int64_t stream_tfp_avx2(float* dst, const int32_t* count, int64_t len, float factor) {
  int64_t q = 0;
  for (; q < len && (reinterpret_cast<uintptr_t>(dst + q) % 32) != 0; ++q) dst[q] = tfp_value(count[q], factor);
  for (; q + 8 <= len; q += 8) {
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(count + q))),
                                   _mm256_set1_ps(factor));
    _mm256_stream_ps(dst + q, _mm256_min_ps(v, _mm256_set1_ps(1.0f)));
  }
  return q;
}

SK_TARGET_AVX512 inline int64_t stream_tfp_avx512(float* dst, const int32_t* count, int64_t len, float factor) {
  int64_t q = 0;
  for (; q < len && (reinterpret_cast<uintptr_t>(dst + q) % 64) != 0; ++q) dst[q] = tfp_value(count[q], factor);
  for (; q + 16 <= len; q += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_loadu_si512(count + q)), _mm512_set1_ps(factor));
    _mm512_stream_ps(dst + q, _mm512_min_ps(v, _mm512_set1_ps(1.0f)));
  }
  return q;
}
#endif

template <Isa I>
inline void store_tfp(float* dst, const int32_t* count, int64_t len, float factor) {
  int64_t q = 0;
#if SK_HAVE_X86_PATHS
  if constexpr (I == Isa::kAvx512) q = stream_tfp_avx512(dst, count, len, factor);
  if constexpr (I == Isa::kAvx2) q = stream_tfp_avx2(dst, count, len, factor);
#endif
  for (; q < len; ++q) dst[q] = tfp_value(count[q], factor);
}

inline void store_fence() {
#if SK_HAVE_X86_PATHS
  _mm_sfence();  // order the streaming stores before the op returns (SSE: every x86-64 CPU)
#endif
}

// --- TFP --------------------------------------------------------------------------------------

// Add (sign +1) or drop (sign -1) frames [f0, f1) of bytes [j0, j0 + nb) to int32 pixel counts
// (file order). Each byte is spread to 8 one-byte lanes (spread_byte, shared with CUDA) and
// summed in 64-bit words; the words, read as bytes, are the per-pixel sums, flushed every 255
// frames so no lane wraps. Frame-major over contiguous bytes: vectorises.
void accumulate_frames(const uint8_t* src, int64_t nbytes, int64_t j0, int64_t nb, int64_t f0,
                       int64_t f1, int32_t sign, int32_t* count) {
  alignas(64) uint64_t acc[kBlockBytes];
  const uint8_t* lanes = reinterpret_cast<const uint8_t*>(acc);
  while (f0 < f1) {
    const int64_t f_end = std::min(f1, f0 + 255);
    for (int64_t q = 0; q < nb; ++q) acc[q] = 0;
    for (int64_t f = f0; f < f_end; ++f) {
      const uint8_t* in = src + f * nbytes + j0;
      for (int64_t q = 0; q < nb; ++q) acc[q] += spread_byte(in[q]);
    }
    for (int64_t q = 0; q < nb * 8; ++q) count[q] += sign * static_cast<int32_t>(lanes[q]);
    f0 = f_end;
  }
}

// Each thread owns a contiguous range of packed bytes (its pixels' counts stay in cache) and
// walks the centres in order, writing a contiguous run of every output image. Moving forward
// by less than w/2 frames slides the window (add the new frames, drop the old ones); otherwise
// the window is recounted.
void tfp_packed_out_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                         const at::Tensor& centres, int64_t window, double scale, at::Tensor out) {
  const int64_t k = check_packed_args(packed, height, width, centres, "tfp_packed");
  check_out(out, k, height, width, "tfp_packed");
  const int64_t frames = packed.size(0), nbytes = packed.size(1), npix = height * width;
  const int64_t* c = centres.data_ptr<int64_t>();
  check_tfp_centres(c, k, frames, window);
  const uint8_t* src = packed.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const float factor = static_cast<float>(scale / static_cast<double>(window));
  const int64_t blocks = (nbytes + kBlockBytes - 1) / kBlockBytes;

  at::parallel_for(0, blocks, 8, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> counts((end - begin) * kBlockBytes * 8);
    int64_t cur_a = 0, cur_b = -1;  // window [cur_a, cur_b) held in counts (none yet)
    for (int64_t i = 0; i < k; ++i) {
      const int64_t a = tfp_window_start(c[i], window), b = a + window;
      const bool slide = cur_b >= 0 && a >= cur_a && 2 * (a - cur_a) < window;
      int32_t* block_counts = counts.data();
      cpu_dispatch([&](auto isa) {
        for (int64_t blk = begin; blk < end; ++blk) {
          const int64_t j0 = blk * kBlockBytes;
          const int64_t nb = std::min(kBlockBytes, nbytes - j0);
          int32_t* count = block_counts + (blk - begin) * kBlockBytes * 8;
          if (slide) {
            accumulate_frames(src, nbytes, j0, nb, cur_b, b, 1, count);
            accumulate_frames(src, nbytes, j0, nb, cur_a, a, -1, count);
          } else {
            std::fill(count, count + kBlockBytes * 8, 0);
            accumulate_frames(src, nbytes, j0, nb, a, b, 1, count);
          }
          const int64_t p0 = j0 * 8;
          for_each_row_run(p0, std::min(nb * 8, npix - p0), height, width, flip,
                           [&](int64_t q, int64_t len, int64_t image_index) {
                             store_tfp<decltype(isa)::value>(dst + i * npix + image_index, count + q, len, factor);
                           });
        }
      });
      cur_a = a;
      cur_b = b;
    }
    store_fence();
  });
}

// --- TFI from packed frames -------------------------------------------------------------------

constexpr int64_t kTfiGroup = 32;     // centres per sliding group
constexpr int64_t kTfiMinGroup = 4;   // fewer centres: the per-byte search (isi_byte) is cheaper
constexpr int32_t kNoSpike = 1 << 30;  // "no spike yet" in the running last / next frames

// The 8 spike bits of each byte of `row` (nb bytes) as 8 one-byte lanes (spread_byte).
inline void spread_row(const uint8_t* row, int64_t nb, uint8_t* lanes) {
  for (int64_t q = 0; q < nb; ++q) {
    const uint64_t x = spread_byte(row[q]);
    std::memcpy(lanes + 8 * q, &x, 8);
  }
}

// TFI of the ascending centres c[0..g) (g <= kTfiGroup, each at least M - 1 frames after the
// stream's first frame and M before its last, so the rule at the ends never applies) for the
// n = nb * 8 pixels of bytes [j0, j0 + nb), in file order, into isi[g][n]. One backward pass
// over frames (c[g-1] + M .. c[0] + 1] keeps each pixel's next spike frame and records it at
// every centre; one forward pass over [c[0] - M + 1, c[g-1]] keeps its last spike frame and forms
// ISI = min(next, c + M) - max(last, c - M) = dl + dr of csrc/recon/math.h at each centre.
void isi_sliding(const uint8_t* src, int64_t nbytes, int64_t j0, int64_t nb, const int64_t* c, int64_t g,
                 int64_t m, int32_t (*isi)[kBlockBytes * 8]) {
  const int64_t n = nb * 8;
  alignas(64) uint8_t lanes[kBlockBytes * 8];
  alignas(64) int32_t run[kBlockBytes * 8];
  for (int64_t q = 0; q < n; ++q) run[q] = kNoSpike;  // next spike frame
  int64_t at = g - 1;
  for (int64_t f = c[g - 1] + m; f > c[0]; --f) {
    spread_row(src + f * nbytes + j0, nb, lanes);
    const int32_t ff = static_cast<int32_t>(f);
    for (int64_t q = 0; q < n; ++q) run[q] = lanes[q] ? ff : run[q];
    for (; at >= 0 && c[at] + 1 == f; --at) std::memcpy(isi[at], run, n * sizeof(int32_t));  // first spike > c[at]
  }
  for (int64_t q = 0; q < n; ++q) run[q] = -kNoSpike;  // last spike frame
  int64_t i = 0;
  for (int64_t f = c[0] - m + 1; f <= c[g - 1]; ++f) {
    spread_row(src + f * nbytes + j0, nb, lanes);
    const int32_t ff = static_cast<int32_t>(f);
    for (int64_t q = 0; q < n; ++q) run[q] = lanes[q] ? ff : run[q];
    for (; i < g && c[i] == f; ++i) {
      const int32_t lo = static_cast<int32_t>(c[i] - m), hi = static_cast<int32_t>(c[i] + m);
      int32_t* out = isi[i];
      for (int64_t q = 0; q < n; ++q) {
        const int32_t r = out[q] < hi ? out[q] : hi;
        const int32_t l = run[q] > lo ? run[q] : lo;
        out[q] = r - l;
      }
    }
  }
}

// Each thread owns a contiguous range of packed bytes and walks the centres in order: runs of
// ascending centres at most M apart and away from the stream's ends go through isi_sliding in
// groups, the others through the per-byte search of csrc/recon/math.h (isi_byte).
void tfi_packed_out_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                         const at::Tensor& centres, int64_t max_interval, double scale,
                         at::Tensor out) {
  const int64_t k = check_packed_args(packed, height, width, centres, "tfi_packed");
  check_out(out, k, height, width, "tfi_packed");
  const int64_t frames = packed.size(0), nbytes = packed.size(1), npix = height * width;
  const int64_t* c = centres.data_ptr<int64_t>();
  check_tfi_args(c, k, frames, max_interval, "tfi_packed");
  const uint8_t* src = packed.data_ptr<uint8_t>();
  float* dst = out.data_ptr<float>();
  const float s = static_cast<float>(scale);
  const int64_t m = max_interval;
  const int64_t blocks = (nbytes + kBlockBytes - 1) / kBlockBytes;
  auto interior = [&](int64_t t) { return !isi_near_ends(frames, t, m); };

  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> scratch(kTfiGroup * kBlockBytes * 8);
    auto* isi = reinterpret_cast<int32_t(*)[kBlockBytes * 8]>(scratch.data());
    cpu_dispatch([&](auto) {
      for (int64_t blk = begin; blk < end; ++blk) {
        const int64_t j0 = blk * kBlockBytes;
        const int64_t nb = std::min(kBlockBytes, nbytes - j0);
        const int64_t p0 = j0 * 8, n = std::min(nb * 8, npix - p0);
        for (int64_t i = 0; i < k;) {
          int64_t g = 1;
          while (i + g < k && g < kTfiGroup && interior(c[i + g]) && c[i + g] >= c[i + g - 1] &&
                 c[i + g] - c[i + g - 1] <= m)
            ++g;
          if (!interior(c[i]) || g < kTfiMinGroup) {
            g = 1;
            for (int64_t q = 0; q < nb; ++q) isi_byte(src, nbytes, frames, j0 + q, c[i], m, isi[0] + 8 * q);
          } else {
            isi_sliding(src, nbytes, j0, nb, c + i, g, m, isi);
          }
          for (int64_t e = 0; e < g; ++e)
            store_block(dst + (i + e) * npix, p0, n, height, width, flip,
                        [&](int64_t q) { return tfi_value(isi[e][q], s); });
          i += g;
        }
      }
    });
  });
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
  if (!isi_near_ends(frames, t, m)) {
    for (int64_t p = 0; p < n; ++p) out[p] = static_cast<float>(static_cast<int32_t>(dl[p]) + dr[p]);
    return;
  }
  for (int64_t p = 0; p < n; ++p) {
    const auto bit = [&](int64_t f) { return is_spike(s[f * stride + p]); };
    out[p] = static_cast<float>(isi_at_edges(bit, frames, t, m, static_cast<int32_t>(dl[p]), static_cast<int32_t>(dr[p])));
  }
}

template <typename T, typename D>
void isi_run_as(const T* src, int64_t n, int64_t bstride, int64_t frames, int64_t npix,
                const int64_t* c, int64_t k, int64_t max_interval, float* dst) {
  const int64_t blocks = (npix + kIsiBlock - 1) / kIsiBlock;
  at::parallel_for(0, n * k * blocks, 1, [&](int64_t begin, int64_t end) {
    cpu_dispatch([&](auto) {
      for (int64_t item = begin; item < end; ++item) {
        const int64_t b = item / (k * blocks), rest = item - b * k * blocks;
        const int64_t i = rest / blocks, p0 = (rest - i * blocks) * kIsiBlock;
        isi_block<T, D>(src + b * bstride + p0, npix, frames, c[i], max_interval,
                        std::min(kIsiBlock, npix - p0), dst + (b * k + i) * npix + p0);
      }
    });
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

at::Tensor isi_cpu(const at::Tensor& spikes, const at::Tensor& centres, int64_t max_interval) {
  check_isi_spikes(spikes);
  const auto st = spikes.scalar_type();
  TORCH_CHECK(centres.scalar_type() == at::kLong && centres.dim() == 1 && centres.is_contiguous() &&
                  centres.device().is_cpu(),
              "spikekit::isi: centres must be a contiguous 1-D int64 CPU tensor");
  const int64_t n = spikes.size(0), frames = spikes.size(1), npix = spikes.size(2);
  const int64_t k = centres.size(0);
  const int64_t* c = centres.data_ptr<int64_t>();
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
  m.impl("tfp_packed", &packed_functional<tfp_packed_out_cpu>);
  m.impl("tfp_packed.out", &tfp_packed_out_cpu);
  m.impl("tfi_packed", &packed_functional<tfi_packed_out_cpu>);
  m.impl("tfi_packed.out", &tfi_packed_out_cpu);
  m.impl("isi", &isi_cpu);
}

}  // namespace spikekit
