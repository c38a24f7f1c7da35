// Run-time choice of the CPU kernels' instruction set. Every CPU kernel is one source: its loops
// over the branch-free per-element math of csrc/<family>/math.h are compiled once per instruction
// set by instantiating them inside the three entry points below (GCC `target` attribute plus
// `flatten`, so the whole kernel body is inlined and vectorised for that target), and
// `cpu_dispatch` calls the one the running CPU supports. The library is built for baseline
// x86-64 (no -march), so a build made on one machine runs on any other.
//
// Paths (as torch's ATEN_CPU_CAPABILITY):
//   default  baseline of the build target (SSE2 on x86-64, NEON on aarch64)
//   avx2     AVX2 + FMA + BMI2 (x86-64-v3; FMA is never contracted: -ffp-contract=off)
//   avx512   AVX-512 F/BW/VL/DQ/CD (x86-64-v4)
// The best path of the CPU is chosen when the library loads; SPIKEKIT_CPU_CAPABILITY (read then)
// and set_cpu_capability (spikekit.ops) force a lower one. All paths give the same bits: every
// float operation is a separately rounded IEEE operation on each of them.
//
// No torch header here: the entry points inline only raw-pointer loops, never ATen code.
#pragma once
#include <atomic>
#include <cstdlib>
#include <strings.h>

namespace spikekit {

enum class Isa : int { kDefault = 0, kAvx2 = 1, kAvx512 = 2 };

template <Isa I>
struct IsaTag {
  static constexpr Isa value = I;
};

constexpr int kIsaCount = 3;
constexpr const char* kIsaNames[kIsaCount] = {"default", "avx2", "avx512"};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define SK_HAVE_X86_PATHS 1
#define SK_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt,lzcnt,f16c,movbe"), flatten))
#define SK_TARGET_AVX512                                                                    \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512cd,avx2,fma,bmi,bmi2,popcnt," \
                        "lzcnt,f16c,movbe"),                                                \
                 flatten))
#else
#define SK_HAVE_X86_PATHS 0
#endif

// The best path the running CPU (and its operating system) supports.
inline Isa cpu_best_isa() {
#if SK_HAVE_X86_PATHS
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi2"))
    return Isa::kAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2") &&
      __builtin_cpu_supports("popcnt"))
    return Isa::kAvx2;
#endif
  return Isa::kDefault;
}

// The path of a name ("default", "avx2", "avx512", in any case), or -1 for any other string.
inline int isa_from_name(const char* name) {
  for (int i = 0; i < kIsaCount; ++i)
    if (strcasecmp(name, kIsaNames[i]) == 0) return i;
  return -1;
}

// The path in use (shared by every translation unit: one inline function, one static). Starts as
// the CPU's best, lowered by SPIKEKIT_CPU_CAPABILITY when it names a supported lower path (an
// unknown or unsupported value is left to src/spikekit/ops.py to report).
inline std::atomic<int>& cpu_isa_slot() {
  static std::atomic<int> slot([] {
    const int best = static_cast<int>(cpu_best_isa());
    const char* env = std::getenv("SPIKEKIT_CPU_CAPABILITY");
    const int asked = env != nullptr ? isa_from_name(env) : -1;
    return asked >= 0 && asked < best ? asked : best;
  }());
  return slot;
}

inline Isa cpu_isa() { return static_cast<Isa>(cpu_isa_slot().load(std::memory_order_relaxed)); }

// The three entry points: f(IsaTag<I>{}) compiled for I, everything it calls inlined into it.
// The default path is the build's own target, so run_default is not flattened: the compiler keeps
// its usual inlining choices there (flattening it measured slower).
template <typename F>
void run_default(const F& f) {
  f(IsaTag<Isa::kDefault>{});
}
#if SK_HAVE_X86_PATHS
template <typename F>
SK_TARGET_AVX2 void run_avx2(const F& f) {
  f(IsaTag<Isa::kAvx2>{});
}
template <typename F>
SK_TARGET_AVX512 void run_avx512(const F& f) {
  f(IsaTag<Isa::kAvx512>{});
}
#endif

// Call f(IsaTag<I>{}) for the path in use. f is a generic lambda over raw pointers: its body
// (and all it calls) must be inlinable, with no call into ATen or OpenMP inside.
template <typename F>
inline void cpu_dispatch(const F& f) {
#if SK_HAVE_X86_PATHS
  switch (cpu_isa()) {
    case Isa::kAvx512: run_avx512(f); return;
    case Isa::kAvx2: run_avx2(f); return;
    default: break;
  }
#endif
  run_default(f);
}

}  // namespace spikekit
