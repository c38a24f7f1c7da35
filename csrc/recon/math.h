// Per-element math of the classic reconstructions (TFP and TFI), shared by the CPU kernels
// (csrc/recon/cpu.cpp) and the CUDA kernels (csrc/recon/kernel.cu).
//
// TFP (Zhu et al., ICME 2019; seed Eq. 2): I(t) = scale * (spikes in frames [t - w/2, t - w/2 + w)) / w.
// ISI / TFI (seed Eq. 3), the project-wide definition (notes, "Interfaces"): for a pixel and a
// spike-frame index t with search bound M,
//   l = last spike frame in [t - M + 1, t], or t - M when there is none,
//   r = first spike frame in [t + 1, t + M], or t + M when there is none,
//   ISI(t) = r - l  in [1, 2M],   TFI(t) = min(scale / ISI(t), 1).
// At the stream's ends (isi_at_edges): when the search on one side of t is cut off by the first
// or last frame of the stream and finds no spike there, the missing side is unknown, not dark; the
// ISI is then the interval from the nearest spike on the other side to the next one beyond it
// (within M), so a uniform stream reconstructs uniformly up to its ends. Without such a pair
// (or away from the ends) frames outside the stream count as "no spike". Internally we track the
// offsets dl = t - l in [0, M] and dr = r - t in [1, M]; M is both the "not found" value and the
// largest offset that can be found, so a search may stop one frame early.
#pragma once
#include "../bits/math.h"
#include "../common/layout.h"

namespace spikekit {

// TFP intensity of a window holding `count` spikes: min(count * factor, 1), factor = scale / w.
SK_HOST_DEVICE float tfp_value(int32_t count, float factor) {
  const float v = static_cast<float>(count) * factor;
  return v < 1.0f ? v : 1.0f;
}

// TFI intensity for an inter-spike interval of `isi` spike frames: min(scale / isi, 1).
SK_HOST_DEVICE float tfi_value(int32_t isi, float scale) {
  const float v = scale / static_cast<float>(isi);
  return v < 1.0f ? v : 1.0f;
}

// First frame of the TFP window of `window` frames centred on t: t - window / 2. For even
// windows the window holds one more frame before t than after it.
SK_HOST_DEVICE int64_t tfp_window_start(int64_t t, int64_t window) { return t - window / 2; }

// Add the 8 one-byte lanes of a spread-byte accumulator to 8 int32 pixel counts.
SK_HOST_DEVICE void flush_lanes(uint64_t acc, int32_t count[8]) {
  for (int k = 0; k < 8; ++k) count[k] += static_cast<int32_t>((acc >> (8 * k)) & 0xFFu);
}

// Spike counts of the 8 pixels of byte j over frames [a, b) of a packed stream
// (frame f's bytes at packed + f * nbytes). SWAR: each frame's byte is spread to 8 one-byte
// lanes (spread_byte) and added to a 64-bit accumulator, flushed to int32 every 255 frames so
// no lane wraps (windows of any length, e.g. 65535 frames). The CPU kernel does the same
// frame-major over a block of bytes (accumulate_frames in csrc/recon/cpu.cpp).
SK_HOST_DEVICE void window_count_byte(const uint8_t* packed, int64_t nbytes, int64_t j, int64_t a,
                                      int64_t b, int32_t count[8]) {
  for (int k = 0; k < 8; ++k) count[k] = 0;
  uint64_t acc = 0;
  int pending = 0;
  for (int64_t f = a; f < b; ++f) {
    acc += spread_byte(packed[f * nbytes + j]);
    if (++pending == 255) {
      flush_lanes(acc, count);
      acc = 0;
      pending = 0;
    }
  }
  flush_lanes(acc, count);
}

// Whether the search of ISI(t) is cut off by the stream's first frame (t < M - 1) or its last
// (t + M > frames - 1), where the rule at the ends (isi_at_edges) applies.
SK_HOST_DEVICE bool isi_left_cut(int64_t t, int64_t max_interval) { return t - max_interval + 1 < 0; }
SK_HOST_DEVICE bool isi_right_cut(int64_t frames, int64_t t, int64_t max_interval) {
  return t + max_interval > frames - 1;
}
SK_HOST_DEVICE bool isi_near_ends(int64_t frames, int64_t t, int64_t max_interval) {
  return isi_left_cut(t, max_interval) || isi_right_cut(frames, t, max_interval);
}

// ISI(t) from the offsets dl, dr of one pixel, with the rule at the stream's ends (definition
// above); bit(f) says whether the pixel fired in frame f (0 <= f < frames). Searches only when
// t is near the ends (isi_near_ends).
template <typename Bit>
SK_HOST_DEVICE int32_t isi_at_edges(const Bit& bit, int64_t frames, int64_t t, int64_t max_interval,
                                    int32_t dl, int32_t dr) {
  const bool left_cut = isi_left_cut(t, max_interval), right_cut = isi_right_cut(frames, t, max_interval);
  if (!left_cut && !right_cut) return dl + dr;
  const bool left = dl < max_interval;
  const bool right = t + dr <= frames - 1 && bit(t + dr);
  if (left_cut && !left && right) {  // the pair after the first spike past t
    const int64_t r = t + dr;
    const int64_t hi = r + max_interval < frames - 1 ? r + max_interval : frames - 1;
    for (int64_t f = r + 1; f <= hi; ++f)
      if (bit(f)) return static_cast<int32_t>(f - r);
  } else if (right_cut && !right && left) {  // the pair before the last spike at or before t
    const int64_t l = t - dl;
    const int64_t lo = l - max_interval > 0 ? l - max_interval : 0;
    for (int64_t f = l - 1; f >= lo; --f)
      if (bit(f)) return static_cast<int32_t>(l - f);
  }
  return dl + dr;
}

// ISI(t) (definition above) of the 8 pixels of byte j of a packed stream of `frames` frames.
// Scans backwards from t and forwards from t + 1, stopping as soon as all 8 pixels are found.
SK_HOST_DEVICE void isi_byte(const uint8_t* packed, int64_t nbytes, int64_t frames, int64_t j,
                             int64_t t, int64_t max_interval, int32_t isi[8]) {
  int32_t dl[8], dr[8];
  const int32_t m = static_cast<int32_t>(max_interval);
  for (int k = 0; k < 8; ++k) dl[k] = dr[k] = m;
  unsigned todo = 0xFFu;
  const int64_t lo = t - max_interval + 1 > 0 ? t - max_interval + 1 : 0;
  for (int64_t f = t; f >= lo && todo; --f) {
    const unsigned hit = packed[f * nbytes + j] & todo;
    todo &= ~hit;
    for (int k = 0; k < 8; ++k)
      if ((hit >> k) & 1u) dl[k] = static_cast<int32_t>(t - f);
  }
  todo = 0xFFu;
  const int64_t hi = t + max_interval - 1 < frames - 1 ? t + max_interval - 1 : frames - 1;
  for (int64_t f = t + 1; f <= hi && todo; ++f) {  // an offset of M needs no search (= none)
    const unsigned hit = packed[f * nbytes + j] & todo;
    todo &= ~hit;
    for (int k = 0; k < 8; ++k)
      if ((hit >> k) & 1u) dr[k] = static_cast<int32_t>(f - t);
  }
  for (int k = 0; k < 8; ++k) {
    const auto bit = [&](int64_t f) { return ((packed[f * nbytes + j] >> k) & 1u) != 0; };
    isi[k] = isi_at_edges(bit, frames, t, max_interval, dl[k], dr[k]);
  }
}

// Whether an unpacked spike value counts as a spike (uint8/bool/float: value > 0).
template <typename T>
SK_HOST_DEVICE bool is_spike(T v) { return v > T(0); }

// ISI(t) of one pixel of an unpacked stream: s[f * stride] is frame f, 0 <= f < frames.
template <typename T>
SK_HOST_DEVICE int32_t isi_pixel(const T* s, int64_t stride, int64_t frames, int64_t t,
                                 int64_t max_interval) {
  const int32_t m = static_cast<int32_t>(max_interval);
  int32_t dl = m, dr = m;
  const int64_t lo = t - max_interval + 1 > 0 ? t - max_interval + 1 : 0;
  for (int64_t f = t; f >= lo; --f)
    if (is_spike(s[f * stride])) { dl = static_cast<int32_t>(t - f); break; }
  const int64_t hi = t + max_interval - 1 < frames - 1 ? t + max_interval - 1 : frames - 1;
  for (int64_t f = t + 1; f <= hi; ++f)
    if (is_spike(s[f * stride])) { dr = static_cast<int32_t>(f - t); break; }
  return isi_at_edges([&](int64_t f) { return is_spike(s[f * stride]); }, frames, t, max_interval, dl, dr);
}

}  // namespace spikekit
