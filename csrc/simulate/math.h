// Per-element math of the spiking-camera simulator (integrate-and-fire), shared by the CPU
// (csrc/simulate/cpu.cpp) and CUDA (csrc/simulate/kernel.cu) kernels. The model is documented
// with its equations in src/spikekit/simulate/model.py; in short, per pixel p and spike frame n:
//
//   I_n   = clamp(I(t_n), 0, 1)                  (NaN and values below 2^-64 read as 0)
//   q_n   = g * I_n + d                          (charge in threshold units; d = dark charge)
//   q_n  += sqrt(q_n * s) * z_n   if s > 0       (shot noise, Gaussian approximation of Poisson
//                                                 with s = theta / electrons per threshold)
//   A    += q_n                                  (float32, Kahan-compensated)
//   spike = A >= theta_p * (1 - 1e-6);  if spike: A -= theta_p
//
// z_n is a standard normal from Philox4x32-10 keyed by the seed, with counter (pixel, n >> 2,
// tag, batch element) (one call serves 4 spike frames), so the same seed gives the same bits on
// CPU and CUDA and for any chunking.
#pragma once
#include "philox.h"

namespace spikekit {

// Relative tolerance of the threshold comparison: exact-arithmetic threshold crossings (e.g.
// ten steps of 0.1 against theta 1) fire on time despite float32 rounding of the increments.
constexpr float kSimFireFactor = 0.999999f;  // 1 - 1e-6
// Lower clamp of the per-pixel threshold factor 1 + sigma z (keeps theta_p > 0).
constexpr float kSimThetaFloor = 0.05f;

// Philox counter tags: which random quantity a draw is for.
enum SimTag : uint32_t { kTagShot = 0, kTagInitAcc = 1, kTagTheta = 2 };

SK_SIM_INLINE Philox4 sim_random(uint32_t k0, uint32_t k1, uint32_t pixel, int64_t index, uint32_t tag,
                                  uint32_t batch) {
  const uint64_t f = static_cast<uint64_t>(index);
  return philox4x32(pixel, static_cast<uint32_t>(f), tag | (static_cast<uint32_t>(f >> 32) << 8), batch,
                    k0, k1);
}

// Shot-noise normals: one Philox call per pixel and group of 4 spike frames (n >> 2) gives two
// Box-Muller pairs, z for frames 4m, 4m+1 from words (x0, x1) and for 4m+2, 4m+3 from (x2, x3).
SK_SIM_INLINE void sim_normals4(const Philox4& r, float& z0, float& z1, float& z2, float& z3) {
  normal_pair(r.x0, r.x1, z0, z1);
  normal_pair(r.x2, r.x3, z2, z3);
}

// The Philox words of the group of spike frame `frame` (frame >> 2).
SK_SIM_INLINE Philox4 sim_shot_words(uint32_t k0, uint32_t k1, uint32_t pixel, int64_t frame, uint32_t batch) {
  return sim_random(k0, k1, pixel, frame >> 2, kTagShot, batch);
}

// The shot-noise normal of one pixel and spike frame (same value as in sim_normals4).
SK_SIM_INLINE float sim_shot_normal(uint32_t k0, uint32_t k1, uint32_t pixel, int64_t frame, uint32_t batch) {
  float z[4];
  sim_normals4(sim_shot_words(k0, k1, pixel, frame, batch), z[0], z[1], z[2], z[3]);
  const int j = static_cast<int>(frame & 3);
  return j == 0 ? z[0] : j == 1 ? z[1] : j == 2 ? z[2] : z[3];
}

// Intensity clamped to [0, 1]; NaN, negatives and values below 2^-64 read as 0, so that no
// product in the model is subnormal (CUDA flushes subnormals under fast math, the CPU does not).
constexpr float kSimMinIntensity = 5.42101086e-20f;  // 2^-64
SK_SIM_INLINE float sim_clamp(float x) {
  const float upper = x <= 1.0f ? x : 1.0f;  // two selects, no branch: vectorises on every ISA
  return x >= kSimMinIntensity ? upper : 0.0f;
}

// Linear interpolation between two video frames: F0 + a (F1 - F0), with delta = F1 - F0.
SK_SIM_INLINE float sim_interp(float start, float delta, float alpha) {
  return fadd(start, fmul(alpha, delta));
}

// Charge collected in one spike frame (threshold units), before shot noise.
SK_SIM_INLINE float sim_charge(float intensity, float gain, float dark) {
  return fadd(fmul(gain, sim_clamp(intensity)), dark);
}

// Add Gaussian shot noise of variance q * shot to a charge q (shot = theta / electrons), given
// the standard normal z of this pixel and spike frame.
SK_SIM_INLINE float sim_shot(float q, float shot, float z) { return fadd(q, fmul(fsqrt(fmul(q, shot)), z)); }

// One readout of one pixel: integrate q (Kahan-compensated in (acc, comp)) and fire; returns
// 1.0f for a spike, else 0.0f. Branch-free: the reset subtracts fire * theta, which is exactly
// theta or +0 (t - 0 = t), so the compiler vectorises it without mask registers.
SK_SIM_INLINE float sim_fire(float q, float& acc, float& comp, float theta, float theta_fire) {
  const float y = fsub(q, comp);
  const float t = fadd(acc, y);
  comp = fsub(fsub(t, acc), y);
  const float fire = t >= theta_fire ? 1.0f : 0.0f;
  acc = fsub(t, fmul(fire, theta));
  return fire;
}

// The firing level of a pixel of threshold theta.
SK_SIM_INLINE float sim_theta_fire(float theta) { return fmul(theta, kSimFireFactor); }

// Arguments of one simulate call (raw pointers; used by the CPU and CUDA loops alike).
struct SimArgs {
  const float* intensity;  // (B, N, H*W) image order, or null in interp mode
  const float* start;      // (B, H*W) interp mode: video frame F_k
  const float* delta;      // (B, H*W) F_{k+1} - F_k
  const float* alpha;      // (N) interpolation weights
  float* acc;              // (B, H*W) accumulator
  float* comp;             // (B, H*W) its Kahan compensation
  const float* theta;      // (B, H*W) per-pixel threshold
  uint8_t* out;            // (B, N, ceil(H*W/8)) packed, or (B, N, H*W)
  int64_t batch, frames, height, width;
  float gain, dark, shot;
  uint32_t k0, k1;  // seed
  int64_t frame0;   // global index of the first spike frame
  bool packed;
};

// Per-pixel fixed pattern: threshold theta * max(1 + sigma z, floor) and initial accumulator
// U[0, 1) * theta_p (or 0 without random_init).
SK_SIM_INLINE void sim_init_pixel(uint32_t k0, uint32_t k1, uint32_t pixel, uint32_t batch, float threshold,
                                   float sigma, bool random_init, float& theta_out, float& acc_out) {
  float theta = threshold;
  if (sigma > 0.0f) {
    const Philox4 r = sim_random(k0, k1, pixel, 0, kTagTheta, batch);
    float z, unused;
    normal_pair(r.x0, r.x1, z, unused);
    float factor = fadd(1.0f, fmul(sigma, z));
    factor = factor >= kSimThetaFloor ? factor : kSimThetaFloor;
    theta = fmul(threshold, factor);
  }
  float acc = 0.0f;
  if (random_init) {
    const Philox4 r = sim_random(k0, k1, pixel, 0, kTagInitAcc, batch);
    acc = fmul(uniform_co(r.x0), theta);
  }
  theta_out = theta;
  acc_out = acc;
}

}  // namespace spikekit
