// CPU kernels of the simulator: integrate-and-fire fused with bit packing. The per-element
// math is csrc/simulate/math.h (shared with CUDA); this file only arranges the loops, compiled
// once per instruction set and chosen at run time (csrc/common/dispatch.h).
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

// The shared float helpers are specified as separately rounded IEEE operations (CUDA uses
// __fmul_rn/__fadd_rn); GCC would otherwise fuse a*b+c into an FMA here, changing the bits.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off", "no-math-errno", "no-trapping-math")
#elif defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "../bits/math.h"
#include "../common/dispatch.h"
#include "checks.h"
#include "math.h"

namespace spikekit {
namespace {

constexpr int64_t kTile = 512;
// Lane arrays are kLanes floats apart (2112 bytes): no two of them lie a multiple of 4 KiB apart,
// which would make the CPU see false dependencies between a store to one and a load from another.
constexpr int64_t kLanes = kTile + 16;

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

// The lane state of one tile (one block, so the 4 KiB spacing above holds).
struct alignas(64) Tile {
  float acc[kLanes], comp[kLanes], th[kLanes], thf[kLanes], x[kLanes], f0[kLanes], d[kLanes];
  float z[4][kLanes];     // shot-noise normals of the current group of 4 spike frames
  uint32_t w[4][kLanes];  // their Philox words
  uint32_t pix[kLanes];
  uint8_t s[kTile + 8];
};

template <bool INTERP, bool SHOT, bool PACKED>
inline void run_tile(const SimArgs& a, int64_t b, int64_t p0, Tile& st, const Segment* segs, int nseg) {
  const int64_t npix = a.height * a.width, nb = frame_bytes(a.height, a.width);
  const int64_t L = std::min(p0 + kTile, npix) - p0;
  float* __restrict acc = st.acc;
  float* __restrict comp = st.comp;
  const float* __restrict th = st.th;
  const float* __restrict thf = st.thf;
  const float* __restrict x = st.x;
  const float* __restrict f0 = st.f0;
  const float* __restrict d = st.d;
  const uint32_t* __restrict pix = st.pix;
  uint8_t* __restrict s = st.s;
  const float gain = a.gain, dark = a.dark, shot = a.shot;
  const uint32_t k0 = a.k0, k1 = a.k1, bb = static_cast<uint32_t>(b);
  int64_t zbase = -4;
  for (int64_t t = 0; t < a.frames; ++t) {
    const int64_t frame = a.frame0 + t;
    const int64_t row = b * a.frames + t;  // output frame (b, t)
    if (!INTERP) {
      const float* src = a.intensity + row * npix;
      for (int i = 0; i < nseg; ++i) std::memcpy(st.x + segs[i].lane, src + segs[i].image, segs[i].len * sizeof(float));
    }
    const float al = INTERP ? a.alpha[t] : 0.0f;
    auto charge = [&](int64_t k) {
      return sim_charge(INTERP ? sim_interp(f0[k], d[k], al) : x[k], gain, dark);
    };
    if (!SHOT) {
#pragma omp simd
      for (int64_t k = 0; k < L; ++k) s[k] = static_cast<uint8_t>(sim_fire(charge(k), acc[k], comp[k], th[k], thf[k]));
    } else {
      if ((frame & 3) == 0 && t + 4 <= a.frames) {  // one Philox call per lane for 4 frames
        uint32_t* __restrict w0 = st.w[0];
        uint32_t* __restrict w1 = st.w[1];
        uint32_t* __restrict w2 = st.w[2];
        uint32_t* __restrict w3 = st.w[3];
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) {
          const Philox4 r = sim_shot_words(k0, k1, pix[k], frame, bb);
          w0[k] = r.x0;
          w1[k] = r.x1;
          w2[k] = r.x2;
          w3[k] = r.x3;
        }
        float* __restrict z0 = st.z[0];
        float* __restrict z1 = st.z[1];
        float* __restrict z2 = st.z[2];
        float* __restrict z3 = st.z[3];
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) sim_normals4(Philox4{w0[k], w1[k], w2[k], w3[k]}, z0[k], z1[k], z2[k], z3[k]);
        zbase = t;
      }
      if (t - zbase < 4) {
        const float* __restrict zr = st.z[t - zbase];
#pragma omp simd
        for (int64_t k = 0; k < L; ++k)
          s[k] = static_cast<uint8_t>(sim_fire(sim_shot(charge(k), shot, zr[k]), acc[k], comp[k], th[k], thf[k]));
      } else {  // a partial group at the edge of the call
#pragma omp simd
        for (int64_t k = 0; k < L; ++k) {
          const float zk = sim_shot_normal(k0, k1, pix[k], frame, bb);
          s[k] = static_cast<uint8_t>(sim_fire(sim_shot(charge(k), shot, zk), acc[k], comp[k], th[k], thf[k]));
        }
      }
    }
    if (PACKED) {
      uint8_t* dst = a.out + row * nb + p0 / 8;
      const int64_t nbytes = (L + 7) / 8;
      for (int64_t j = 0; j < nbytes; ++j) {
        uint64_t word;
        std::memcpy(&word, s + 8 * j, 8);
        dst[j] = gather_byte(word);
      }
    } else {
      uint8_t* dst = a.out + row * npix;
      for (int i = 0; i < nseg; ++i) std::memcpy(dst + segs[i].image, s + segs[i].lane, segs[i].len);
    }
  }
}

// One tile: gather its state (lanes in file order), run every spike frame of the call on the
// instruction set of the running CPU, scatter the state back.
template <bool INTERP, bool SHOT, bool PACKED>
void run_tile_on_cpu(const SimArgs& a, int64_t b, int64_t p0) {
  const int64_t npix = a.height * a.width;
  const int64_t p1 = std::min(p0 + kTile, npix), L = p1 - p0;
  Tile st;
  Segment segs[kTile + 1];
  const int nseg = make_segments(p0, p1, a.height, a.width, segs);
  std::memset(st.s, 0, sizeof(st.s));
  std::memset(st.pix, 0, sizeof(st.pix));
  const int64_t base = b * npix;
  for (int i = 0; i < nseg; ++i) {
    const Segment& g = segs[i];
    std::memcpy(st.acc + g.lane, a.acc + base + g.image, g.len * sizeof(float));
    std::memcpy(st.comp + g.lane, a.comp + base + g.image, g.len * sizeof(float));
    std::memcpy(st.th + g.lane, a.theta + base + g.image, g.len * sizeof(float));
    if (INTERP) {
      std::memcpy(st.f0 + g.lane, a.start + base + g.image, g.len * sizeof(float));
      std::memcpy(st.d + g.lane, a.delta + base + g.image, g.len * sizeof(float));
    }
    for (int64_t k = 0; k < g.len; ++k) st.pix[g.lane + k] = static_cast<uint32_t>(g.image + k);
  }
  for (int64_t k = 0; k < L; ++k) st.thf[k] = sim_theta_fire(st.th[k]);
  cpu_dispatch([&](auto) { run_tile<INTERP, SHOT, PACKED>(a, b, p0, st, segs, nseg); });
  for (int i = 0; i < nseg; ++i) {
    const Segment& g = segs[i];
    std::memcpy(a.acc + base + g.image, st.acc + g.lane, g.len * sizeof(float));
    std::memcpy(a.comp + base + g.image, st.comp + g.lane, g.len * sizeof(float));
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
      for (int64_t i = begin; i < end; ++i) run_tile_on_cpu<INTERP, SHOT, PACKED>(a, i / tiles, (i % tiles) * kTile);
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
