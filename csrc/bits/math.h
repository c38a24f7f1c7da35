// Per-element math of the bit-layout ops, also used by the other families: bit packing of spike
// frames (the .dat layout): pixel p = file_row * W + col is bit p % 8 (LSB first) of byte p / 8
// of its frame.
#pragma once
#include "../common/layout.h"

namespace spikekit {

// One spike bit of a packed frame.
SK_HOST_DEVICE uint8_t get_bit(const uint8_t* frame, int64_t p) {
  return (frame[p >> 3] >> (p & 7)) & 1u;
}

// Spread the 8 bits of `b` into 8 bytes: byte k of the little-endian result is bit k of b.
SK_HOST_DEVICE uint64_t spread_byte(uint8_t b) {
  uint64_t x = b;
  x = (x | (x << 28)) & 0x0000000F0000000FULL;
  x = (x | (x << 14)) & 0x0003000300030003ULL;
  x = (x | (x << 7)) & 0x0101010101010101ULL;
  return x;
}

// Inverse of spread_byte: 8 bytes of {0,1} (little-endian word) to one byte, LSB first.
SK_HOST_DEVICE uint8_t gather_byte(uint64_t x) {
  return static_cast<uint8_t>((x * 0x0102040810204080ULL) >> 56);
}

// Image pixel (row, col) of a file pixel index p (0 <= p < H*W).
SK_HOST_DEVICE int64_t image_index_of_file_pixel(int64_t p, int64_t height, int64_t width, bool flip) {
  const int64_t r = p / width;
  const int64_t c = p - r * width;
  return file_row(r, height, flip) * width + c;
}

// Byte j of a packed frame from an unpacked (H, W) image of {0,1} (padding bits are 0).
SK_HOST_DEVICE uint8_t pack_byte(const uint8_t* image, int64_t j, int64_t height, int64_t width, bool flip) {
  const int64_t n = height * width;
  uint8_t out = 0;
  for (int k = 0; k < 8; ++k) {
    const int64_t p = j * 8 + k;
    if (p < n) out |= static_cast<uint8_t>((image[image_index_of_file_pixel(p, height, width, flip)] & 1u) << k);
  }
  return out;
}

// Number of set bits of a byte (spikes in one packed byte; padding bits are 0).
SK_HOST_DEVICE int popcount8(uint8_t b) {
#if defined(__CUDA_ARCH__)
  return __popc(static_cast<unsigned int>(b));
#else
  return __builtin_popcount(static_cast<unsigned int>(b));
#endif
}

}  // namespace spikekit
