// x86 SIMD intrinsics for the CPU kernels (csrc/recon/cpu.cpp, csrc/simulate/cpu.cpp).
//
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_*() and, once inlined, trip
// -Wmaybe-uninitialized inside the compiler's own avx512fintrin.h (GCC bug 105593): silenced for
// GCC 12 only, so every other warning of these files still shows.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
