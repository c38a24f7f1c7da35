// CPU kernels of the simulator: integrate-and-fire fused with bit packing. The per-element
// math is csrc/simulate/math.h (shared with CUDA); this file only arranges the loops.
//
// Work is split into tiles of 512 consecutive *file* pixels (the .dat bit order, rows
// bottom-up), so a tile writes 64 whole bytes of every packed spike frame. A tile keeps its
// state in local lane arrays, loops over all spike frames of the call, and per frame runs one
// vectorisable loop over its lanes followed by the packing of the lanes into bytes.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#if defined(__AVX512F__)
#include "../common/simd.h"
#endif

// The shared float helpers are specified as separately rounded IEEE operations (CUDA uses
// __fmul_rn/__fadd_rn); GCC would otherwise fuse a*b+c into an FMA here, changing the bits.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off", "no-math-errno")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "../bits/math.h"
#include "checks.h"
#include "math.h"

namespace spikekit {
namespace {

constexpr int64_t kTile = 512;

// A run of lanes that is contiguous in the image: lanes [lane, lane + len) are image pixels
// [image, image + len).
struct Segment {
  int64_t lane, image, len;
};

int make_segments(int64_t p0, int64_t p1, int64_t height, int64_t width, Segment* segs) {
  int n = 0;
  for (int64_t p = p0; p < p1;) {
    const int64_t r = p / width, c = p - r * width;
    const int64_t len = std::min(width - c, p1 - p);
    segs[n++] = Segment{p - p0, file_row(r, height, true) * width + c, len};
    p += len;
  }
  return n;
}

// The Philox words of spike-frame group frame >> 2 for lanes [0, L): w[i][k] = word i of
// sim_shot_words(k0, k1, pix[k], frame, batch). With AVX-512, 16 lanes at a time with the
// 32x32->64-bit multiplies done as even/odd vpmuludq (same Philox4x32-10 arithmetic as
// csrc/simulate/philox.h, which the tests' plain reference checks bit for bit); else the shared
// helper in a vectorised loop.
void shot_words(uint32_t k0, uint32_t k1, const uint32_t* pix, int64_t L, int64_t frame, uint32_t batch,
                uint32_t (*w)[kTile]) {
  const uint64_t g = static_cast<uint64_t>(frame >> 2);
  const uint32_t c1 = static_cast<uint32_t>(g), c2 = kTagShot | (static_cast<uint32_t>(g >> 32) << 8);
#if defined(__AVX512F__)
  const __m512i M0 = _mm512_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m512i M1 = _mm512_set1_epi32(static_cast<int>(0xCD9E8D57u));
  auto mulhilo = [](__m512i x, __m512i m, __m512i& hi, __m512i& lo) {
    const __m512i even = _mm512_mul_epu32(x, m);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), m);
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  };
  for (int64_t k = 0; k < L; k += 16) {  // lanes past L (pix = 0) are computed and never used
    __m512i x0 = _mm512_loadu_si512(pix + k), x1 = _mm512_set1_epi32(static_cast<int>(c1));
    __m512i x2 = _mm512_set1_epi32(static_cast<int>(c2)), x3 = _mm512_set1_epi32(static_cast<int>(batch));
    uint32_t a0 = k0, a1 = k1;
    for (int round = 0; round < 10; ++round) {
      __m512i hi0, lo0, hi1, lo1;
      mulhilo(x0, M0, hi0, lo0);
      mulhilo(x2, M1, hi1, lo1);
      x0 = _mm512_ternarylogic_epi32(hi1, x1, _mm512_set1_epi32(static_cast<int>(a0)), 0x96);  // 3-way xor
      x1 = lo1;
      x2 = _mm512_ternarylogic_epi32(hi0, x3, _mm512_set1_epi32(static_cast<int>(a1)), 0x96);
      x3 = lo0;
      a0 += 0x9E3779B9u;
      a1 += 0xBB67AE85u;
    }
    _mm512_store_si512(w[0] + k, x0);
    _mm512_store_si512(w[1] + k, x1);
    _mm512_store_si512(w[2] + k, x2);
    _mm512_store_si512(w[3] + k, x3);
  }
#else
#pragma omp simd
  for (int64_t k = 0; k < L; ++k) {
    const Philox4 r = philox4x32(pix[k], c1, c2, batch, k0, k1);
    w[0][k] = r.x0;
    w[1][k] = r.x1;
    w[2][k] = r.x2;
    w[3][k] = r.x3;
  }
#endif
}

template <bool INTERP, bool SHOT, bool PACKED>
void run_tile(const SimArgs& a, int64_t b, int64_t p0) {
  const int64_t npix = a.height * a.width, nb = frame_bytes(a.height, a.width);
  const int64_t p1 = std::min(p0 + kTile, npix), L = p1 - p0;
  alignas(64) float acc[kTile], comp[kTile], th[kTile], thf[kTile], x[kTile], f0[kTile], d[kTile];
  alignas(64) uint32_t pix[kTile];
  alignas(64) uint8_t s[kTile + 8];
  Segment segs[kTile + 1];
  const int nseg = make_segments(p0, p1, a.height, a.width, segs);
  std::memset(s, 0, sizeof(s));
  std::memset(pix, 0, sizeof(pix));  // lanes past L feed whole 16-lane Philox blocks
  const int64_t base = b * npix;
  for (int i = 0; i < nseg; ++i) {
    const Segment& g = segs[i];
    std::memcpy(acc + g.lane, a.acc + base + g.image, g.len * sizeof(float));
    std::memcpy(comp + g.lane, a.comp + base + g.image, g.len * sizeof(float));
    std::memcpy(th + g.lane, a.theta + base + g.image, g.len * sizeof(float));
    if (INTERP) {
      std::memcpy(f0 + g.lane, a.start + base + g.image, g.len * sizeof(float));
      std::memcpy(d + g.lane, a.delta + base + g.image, g.len * sizeof(float));
    }
    for (int64_t k = 0; k < g.len; ++k) pix[g.lane + k] = static_cast<uint32_t>(g.image + k);
  }
  for (int64_t k = 0; k < L; ++k) thf[k] = sim_theta_fire(th[k]);
  const float gain = a.gain, dark = a.dark, shot = a.shot;
  const uint32_t k0 = a.k0, k1 = a.k1, bb = static_cast<uint32_t>(b);
  alignas(64) float z[4][kTile];     // shot-noise normals of the current group of 4 spike frames
  alignas(64) uint32_t w[4][kTile];  // their Philox words
  int64_t zbase = -4;
  for (int64_t t = 0; t < a.frames; ++t) {
    const int64_t frame = a.frame0 + t;
    const int64_t row = b * a.frames + t;  // output frame (b, t)
    if (!INTERP) {
      const float* src = a.intensity + row * npix;
      for (int i = 0; i < nseg; ++i) std::memcpy(x + segs[i].lane, src + segs[i].image, segs[i].len * sizeof(float));
    }
    const float al = INTERP ? a.alpha[t] : 0.0f;
    auto charge = [&](int64_t k) {
      return sim_charge(INTERP ? sim_interp(f0[k], d[k], al) : x[k], gain, dark);
    };
    if (!SHOT) {
#pragma omp simd
      for (int64_t k = 0; k < L; ++k) s[k] = sim_fire(charge(k), acc[k], comp[k], th[k], thf[k]);
    } else {
      if ((frame & 3) == 0 && t + 4 <= a.frames) {  // one Philox call per lane for 4 frames
        shot_words(k0, k1, pix, L, frame, bb, w);
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) sim_normals4(Philox4{w[0][k], w[1][k], w[2][k], w[3][k]}, z[0][k], z[1][k], z[2][k], z[3][k]);
        zbase = t;
      }
      if (t - zbase < 4) {
        const float* zr = z[t - zbase];
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) s[k] = sim_fire(sim_shot(charge(k), shot, zr[k]), acc[k], comp[k], th[k], thf[k]);
      } else {  // a partial group at the edge of the call
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) {
          const float zk = sim_shot_normal(k0, k1, pix[k], frame, bb);
          s[k] = sim_fire(sim_shot(charge(k), shot, zk), acc[k], comp[k], th[k], thf[k]);
        }
      }
    }
    if (PACKED) {
      uint8_t* dst = a.out + row * nb + p0 / 8;
      const int64_t nbytes = (L + 7) / 8;
      for (int64_t j = 0; j < nbytes; ++j) {
        uint64_t w;
        std::memcpy(&w, s + 8 * j, 8);
        dst[j] = gather_byte(w);
      }
    } else {
      uint8_t* dst = a.out + row * npix;
      for (int i = 0; i < nseg; ++i) std::memcpy(dst + segs[i].image, s + segs[i].lane, segs[i].len);
    }
  }
  for (int i = 0; i < nseg; ++i) {
    const Segment& g = segs[i];
    std::memcpy(a.acc + base + g.image, acc + g.lane, g.len * sizeof(float));
    std::memcpy(a.comp + base + g.image, comp + g.lane, g.len * sizeof(float));
  }
}

template <bool INTERP>
void run(const SimArgs& a) {
  const int64_t npix = a.height * a.width;
  const int64_t tiles = (npix + kTile - 1) / kTile;
  if (a.frames == 0 || a.batch == 0) return;
  auto body = [&](auto shot_tag, auto packed_tag) {
    constexpr bool SHOT = decltype(shot_tag)::value, PACKED = decltype(packed_tag)::value;
    at::parallel_for(0, a.batch * tiles, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) run_tile<INTERP, SHOT, PACKED>(a, i / tiles, (i % tiles) * kTile);
    });
  };
  using T = std::true_type;
  using F = std::false_type;
  const bool shot = a.shot > 0.0f;
  if (shot && a.packed) body(T{}, T{});
  else if (shot) body(T{}, F{});
  else if (a.packed) body(F{}, T{});
  else body(F{}, F{});
}

SimArgs make_args(const at::Tensor& acc, const at::Tensor& comp, const at::Tensor& theta, double gain, double dark,
                  double shot, int64_t seed, int64_t frame0, int64_t frames, bool packed, const at::Tensor& out) {
  return SimArgs{nullptr, nullptr, nullptr, nullptr, acc.data_ptr<float>(), comp.data_ptr<float>(),
                 theta.data_ptr<float>(), out.data_ptr<uint8_t>(), acc.size(0), frames, acc.size(1), acc.size(2),
                 static_cast<float>(gain), static_cast<float>(dark), static_cast<float>(shot), seed_lo(seed),
                 seed_hi(seed), frame0, packed};
}

void simulate_frames_cpu(const at::Tensor& intensity, at::Tensor acc, at::Tensor comp, const at::Tensor& theta,
                         double gain, double dark, double shot, int64_t seed, int64_t frame0, bool packed,
                         at::Tensor out) {
  check_frames_call(intensity, acc, comp, theta, frame0, packed, out);
  SimArgs a = make_args(acc, comp, theta, gain, dark, shot, seed, frame0, intensity.size(1), packed, out);
  a.intensity = intensity.data_ptr<float>();
  run<false>(a);
}

void simulate_interp_cpu(const at::Tensor& start, const at::Tensor& delta, const at::Tensor& alpha, at::Tensor acc,
                         at::Tensor comp, const at::Tensor& theta, double gain, double dark, double shot,
                         int64_t seed, int64_t frame0, bool packed, at::Tensor out) {
  check_interp_call(start, delta, alpha, acc, comp, theta, frame0, packed, out);
  SimArgs a = make_args(acc, comp, theta, gain, dark, shot, seed, frame0, alpha.size(0), packed, out);
  a.start = start.data_ptr<float>();
  a.delta = delta.data_ptr<float>();
  a.alpha = alpha.data_ptr<float>();
  run<true>(a);
}

void simulate_init_cpu(at::Tensor acc, at::Tensor comp, at::Tensor theta, double threshold, double sigma,
                       bool random_init, int64_t seed) {
  check_sim_state(acc, comp, theta, "simulate_init");
  const int64_t npix = acc.size(1) * acc.size(2);
  float* pa = acc.data_ptr<float>();
  float* pc = comp.data_ptr<float>();
  float* pt = theta.data_ptr<float>();
  const uint32_t k0 = seed_lo(seed), k1 = seed_hi(seed);
  const float th = static_cast<float>(threshold), sg = static_cast<float>(sigma);
  at::parallel_for(0, acc.size(0) * npix, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / npix;
      sim_init_pixel(k0, k1, static_cast<uint32_t>(i - b * npix), static_cast<uint32_t>(b), th, sg, random_init,
                     pt[i], pa[i]);
      pc[i] = 0.0f;
    }
  });
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CPU, m) {
  m.impl("simulate_init", &simulate_init_cpu);
  m.impl("simulate_frames", &simulate_frames_cpu);
  m.impl("simulate_interp", &simulate_interp_cpu);
}

}  // namespace spikekit
