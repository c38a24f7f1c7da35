// CPU kernels for the .dat bit layout: unpack (with the vertical flip fused) and pack. The loops
// are compiled once per instruction set and chosen at run time (csrc/common/dispatch.h).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <array>
#include <cstring>
#include <tuple>
#include <vector>

#include "../common/dispatch.h"
#include "checks.h"
#include "math.h"

namespace spikekit {
namespace {

const std::array<uint64_t, 256>& spread_table() {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    for (int b = 0; b < 256; ++b) t[b] = spread_byte(static_cast<uint8_t>(b));
    return t;
  }();
  return table;
}

// Decode one image row: bits [s, s + W) of `frame` into `out[0..W)`.
inline void unpack_row(const uint8_t* frame, int64_t s, int64_t width, uint8_t* out,
                       const uint64_t* table) {
  int64_t c = 0;
  for (; c < width && ((s + c) & 7) != 0; ++c) out[c] = get_bit(frame, s + c);
  const uint8_t* bytes = frame + ((s + c) >> 3);
  for (; c + 8 <= width; c += 8, ++bytes) std::memcpy(out + c, &table[*bytes], 8);
  for (; c < width; ++c) out[c] = get_bit(frame, s + c);
}

void unpack_frames_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                     const at::Tensor& out) {
  const int64_t frames = packed.size(0);
  const int64_t nbytes = frame_bytes(height, width);
  const uint8_t* src = packed.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  const uint64_t* table = spread_table().data();
  at::parallel_for(0, frames * height, 64, [&](int64_t begin, int64_t end) {
    cpu_dispatch([&](auto) {
      for (int64_t i = begin; i < end; ++i) {
        const int64_t t = i / height;
        const int64_t r = i - t * height;
        unpack_row(src + t * nbytes, file_row(r, height, flip) * width, width, dst + i * width, table);
      }
    });
  });
}

at::Tensor unpack_spikes_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip) {
  check_packed(packed, height, width, "unpack_spikes");
  at::Tensor out = at::empty({packed.size(0), height, width}, packed.options());
  unpack_frames_cpu(packed, height, width, flip, out);
  return out;
}

void unpack_spikes_out_cpu(const at::Tensor& packed, int64_t height, int64_t width, bool flip,
                            at::Tensor out) {
  check_packed(packed, height, width, "unpack_spikes.out");
  check_unpack_out(packed, height, width, out, "unpack_spikes.out");
  unpack_frames_cpu(packed, height, width, flip, out);
}

// Bytes [begin, end) of the packed output (byte i = byte i % nbytes of frame i / nbytes).
inline void pack_bytes(const uint8_t* src, uint8_t* dst, int64_t begin, int64_t end, int64_t height,
                       int64_t width, bool flip) {
  const int64_t nbytes = frame_bytes(height, width), npix = height * width;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t t = i / nbytes;
    const int64_t j = i - t * nbytes;
    const uint8_t* image = src + t * npix;
    const int64_t p = j * 8;
    const int64_t r = p / width;
    const int64_t c = p - r * width;
    if (c + 8 <= width) {  // the whole byte lies in one row: gather 8 pixels at once
      uint64_t x;
      std::memcpy(&x, image + file_row(r, height, flip) * width + c, 8);
      dst[i] = gather_byte(x & 0x0101010101010101ULL);
    } else {
      dst[i] = pack_byte(image, j, height, width, flip);
    }
  }
}

at::Tensor pack_spikes_cpu(const at::Tensor& spikes, bool flip) {
  check_uint8(spikes, "pack_spikes", "spikes", 3);
  const int64_t frames = spikes.size(0), height = spikes.size(1), width = spikes.size(2);
  check_size(height, width, "pack_spikes");
  const int64_t nbytes = frame_bytes(height, width);
  at::Tensor out = at::empty({frames, nbytes}, spikes.options());
  const uint8_t* src = spikes.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  at::parallel_for(0, frames * nbytes, 4096, [&](int64_t begin, int64_t end) {
    cpu_dispatch([&](auto) { pack_bytes(src, dst, begin, end, height, width, flip); });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> spike_counts_cpu(const at::Tensor& packed, int64_t height,
                                                    int64_t width, bool flip) {
  check_packed(packed, height, width, "spike_counts");
  const int64_t frames = packed.size(0);
  const int64_t nbytes = frame_bytes(height, width);
  const uint8_t* src = packed.data_ptr<uint8_t>();
  at::Tensor per_frame = at::empty({frames}, packed.options().dtype(at::kLong));
  int64_t* fc = per_frame.data_ptr<int64_t>();
  at::parallel_for(0, frames, 16, [&](int64_t begin, int64_t end) {
    cpu_dispatch([&](auto) {  // POPCNT on the avx2 and avx512 paths, a bit trick on the default one
      for (int64_t t = begin; t < end; ++t) {
        const uint8_t* frame = src + t * nbytes;
        int64_t n = 0, j = 0;
        for (; j + 8 <= nbytes; j += 8) {
          uint64_t x;
          std::memcpy(&x, frame + j, 8);
          n += __builtin_popcountll(x);
        }
        for (; j < nbytes; ++j) n += popcount8(frame[j]);
        fc[t] = n;
      }
    });
  });
  // Per pixel, in file order: 8 byte-wide lanes per packed byte, flushed before they can wrap.
  std::vector<int64_t> file_counts(nbytes * 8, 0);
  at::parallel_for(0, nbytes, 1024, [&](int64_t begin, int64_t end) {
    std::vector<uint64_t> lanes(end - begin, 0);
    auto flush = [&] {
      for (int64_t j = begin; j < end; ++j) {
        uint64_t x = lanes[j - begin];
        for (int k = 0; k < 8; ++k) file_counts[j * 8 + k] += (x >> (8 * k)) & 0xFF;
        lanes[j - begin] = 0;
      }
    };
    uint64_t* acc = lanes.data();
    for (int64_t t = 0; t < frames; ++t) {
      const uint8_t* row = src + t * nbytes;
      cpu_dispatch([&](auto) {
        for (int64_t j = begin; j < end; ++j) acc[j - begin] += spread_byte(row[j]);
      });
      if ((t + 1) % 255 == 0) flush();
    }
    flush();
  });
  at::Tensor per_pixel = at::empty({height, width}, packed.options().dtype(at::kLong));
  int64_t* pc = per_pixel.data_ptr<int64_t>();
  for (int64_t r = 0; r < height; ++r)
    std::memcpy(pc + file_row(r, height, flip) * width, file_counts.data() + r * width,
                width * sizeof(int64_t));
  return {per_pixel, per_frame};
}

}  // namespace

TORCH_LIBRARY_IMPL(spikekit, CPU, m) {
  m.impl("spike_counts", &spike_counts_cpu);
  m.impl("unpack_spikes", &unpack_spikes_cpu);
  m.impl("unpack_spikes.out", &unpack_spikes_out_cpu);
  m.impl("pack_spikes", &pack_spikes_cpu);
}

}  // namespace spikekit
