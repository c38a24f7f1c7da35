// Counter-based random numbers for the simulator: Philox4x32-10 (Salmon et al., "Parallel
// random numbers: as easy as 1, 2, 3", SC 2011) and the float helpers that turn its words into
// uniform and normal variates.
//
// Every operation here is an exactly specified IEEE float32 operation (explicit round-to-nearest
// intrinsics on CUDA, so `--use_fast_math` and FMA contraction cannot change them; plain
// operators on the host, which GCC does not contract under -std=c++17). The logarithm and
// cosine are our own polynomial evaluations, not the platform's libm, so CPU and CUDA produce
// the same bits for the same (key, counter).
#pragma once
#include "../common/layout.h"

// Like SK_HOST_DEVICE, but also forced inline on the host: the CPU kernels rely on these
// helpers being inlined into their `omp simd` loops to vectorise them.
#if defined(__CUDACC__)
#define SK_SIM_INLINE __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define SK_SIM_INLINE inline __attribute__((always_inline))
#else
#define SK_SIM_INLINE inline
#endif

namespace spikekit {

// --- exactly rounded float32 arithmetic, identical on host and device ----------------------
#if defined(__CUDA_ARCH__)
SK_SIM_INLINE float fadd(float a, float b) { return __fadd_rn(a, b); }
SK_SIM_INLINE float fsub(float a, float b) { return __fsub_rn(a, b); }
SK_SIM_INLINE float fmul(float a, float b) { return __fmul_rn(a, b); }
SK_SIM_INLINE float bits_to_float(uint32_t u) { return __uint_as_float(u); }
SK_SIM_INLINE uint32_t float_to_bits(float f) { return __float_as_uint(f); }
#else
SK_SIM_INLINE float fadd(float a, float b) { return a + b; }
SK_SIM_INLINE float fsub(float a, float b) { return a - b; }
SK_SIM_INLINE float fmul(float a, float b) { return a * b; }
SK_SIM_INLINE float bits_to_float(uint32_t u) {
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
SK_SIM_INLINE uint32_t float_to_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  return u;
}
#endif

// Square root of x >= 0 from multiplies and adds only (inverse-square-root bit estimate plus
// three Newton steps, then x * rsqrt(x)); within 3 ulp of the true root and bit-identical on
// host and device. (The host's sqrtf would break vectorisation: it may set errno.)
SK_SIM_INLINE float fsqrt(float x) {
  float y = bits_to_float(0x5f3759dfu - (float_to_bits(x) >> 1));
  const float h = fmul(0.5f, x);
  y = fmul(y, fsub(1.5f, fmul(h, fmul(y, y))));
  y = fmul(y, fsub(1.5f, fmul(h, fmul(y, y))));
  y = fmul(y, fsub(1.5f, fmul(h, fmul(y, y))));
  return fmul(x, y);
}

// --- Philox4x32-10 --------------------------------------------------------------------------
struct Philox4 {
  uint32_t x0, x1, x2, x3;
};

// Ten rounds of Philox4x32 on counter (c0, c1, c2, c3) with key (k0, k1).
SK_SIM_INLINE Philox4 philox4x32(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                                  uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
#if defined(__CUDACC__)
#pragma unroll
#elif defined(__GNUC__) && !defined(__clang__)
#pragma GCC unroll 10
#endif
  for (int round = 0; round < 10; ++round) {
#if defined(__CUDA_ARCH__)
    const uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
#else  // one widening multiply each (vectorises to vpmuludq)
    const uint64_t p0 = static_cast<uint64_t>(M0) * c0, p1 = static_cast<uint64_t>(M1) * c2;
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
#endif
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return Philox4{c0, c1, c2, c3};
}

// Uniform in [0, 1) with 24 random bits: k * 2^-24 (exact).
SK_SIM_INLINE float uniform_co(uint32_t x) {
  return fmul(static_cast<float>(x >> 8), 5.9604644775390625e-08f);
}

// Uniform in (0, 1) with 23 random bits: (2k + 1) * 2^-24 (exact, never 0 or 1).
SK_SIM_INLINE float uniform_oo(uint32_t x) {
  return fmul(static_cast<float>(((x >> 9) << 1) | 1u), 5.9604644775390625e-08f);
}

// Natural logarithm of x in [2^-24, 1] (a normal float): x = m * 2^e with m in
// [sqrt(1/2), sqrt(2)), log x = e log 2 + log m, log m by the classic minimax polynomial in
// (m - 1) (Cephes logf coefficients); absolute error below 1e-7.
SK_SIM_INLINE float log_unit(float x) {
  const uint32_t bits = float_to_bits(x);
  int e = static_cast<int>((bits >> 23) & 0xffu) - 127;
  float m = bits_to_float((bits & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  const bool big = m > 1.41421356f;
  m = big ? fmul(m, 0.5f) : m;
  e = big ? e + 1 : e;
  const float f = fsub(m, 1.0f);
  const float z = fmul(f, f);
  float p = 7.0376836292e-2f;
  p = fadd(fmul(p, f), -1.1514610310e-1f);
  p = fadd(fmul(p, f), 1.1676998740e-1f);
  p = fadd(fmul(p, f), -1.2420140846e-1f);
  p = fadd(fmul(p, f), 1.4249322787e-1f);
  p = fadd(fmul(p, f), -1.6668057665e-1f);
  p = fadd(fmul(p, f), 2.0000714765e-1f);
  p = fadd(fmul(p, f), -2.4999993993e-1f);
  p = fadd(fmul(p, f), 3.3333331174e-1f);
  const float fe = static_cast<float>(e);
  float y = fmul(fmul(p, f), z);
  y = fadd(y, fmul(fe, -2.12194440e-4f));
  y = fsub(y, fmul(0.5f, z));
  return fadd(fadd(f, y), fmul(fe, 0.693359375f));
}

// cos(2 pi v) and sin(2 pi v) for the turn v = k * 2^-24 of a Philox word (k = its top 24
// bits): the quadrant q = k >> 22 and the remainder r = v - q / 4 are exact; r is folded into
// [0, 1/8] (cos(2 pi r) = sin(2 pi (1/4 - r))), then the classic minimax sine and cosine
// polynomials on [0, pi/4] (Cephes sinf/cosf coefficients; absolute error below 2e-7) and the
// quadrant's rotation.
SK_SIM_INLINE void sincos_turn(uint32_t word, float& cos_out, float& sin_out) {
  const uint32_t k = word >> 8;
  const uint32_t q = k >> 22;
  const float r = fmul(static_cast<float>(k & 0x3fffffu), 5.9604644775390625e-08f);  // [0, 1/4)
  const bool swap = r > 0.125f;
  const float t = swap ? fsub(0.25f, r) : r;  // [0, 1/8]
  const float x = fmul(t, 6.28318530718f);   // [0, pi/4]
  const float z = fmul(x, x);
  float c = 2.443315711809948e-5f;
  c = fadd(fmul(c, z), -1.388731625493765e-3f);
  c = fadd(fmul(c, z), 4.166664568298827e-2f);
  c = fadd(fsub(fmul(fmul(c, z), z), fmul(0.5f, z)), 1.0f);
  float s = -1.9515295891e-4f;
  s = fadd(fmul(s, z), 8.3321608736e-3f);
  s = fadd(fmul(s, z), -1.6666654611e-1f);
  s = fadd(fmul(fmul(s, z), x), x);
  const float cr = swap ? s : c, sr = swap ? c : s;  // cos, sin of 2 pi r
  cos_out = q == 0 ? cr : q == 1 ? -sr : q == 2 ? -cr : sr;
  sin_out = q == 0 ? sr : q == 1 ? cr : q == 2 ? -sr : -cr;
}

// Box-Muller radius sqrt(-2 ln u) of a Philox word.
SK_SIM_INLINE float bm_radius(uint32_t a) { return fsqrt(fmul(-2.0f, log_unit(uniform_oo(a)))); }

// Two independent standard normals from two Philox words (Box-Muller):
// z0 = sqrt(-2 ln u1) cos(2 pi u2), z1 = sqrt(-2 ln u1) sin(2 pi u2).
SK_SIM_INLINE void normal_pair(uint32_t a, uint32_t b, float& z0, float& z1) {
  const float r = bm_radius(a);
  float c, s;
  sincos_turn(b, c, s);
  z0 = fmul(r, c);
  z1 = fmul(r, s);
}

}  // namespace spikekit
