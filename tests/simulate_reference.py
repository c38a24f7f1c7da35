"""Plain, slow, obviously-correct NumPy version of the simulator kernels (for the tests).

Written straight from the model's definition (src/spikekit/simulate/model.py, csrc/simulate/
math.h): every float32 operation is a separate NumPy float32 operation (each correctly
rounded, never fused), Philox4x32-10 in uint64 arithmetic, and constants rounded exactly from
their decimal text. Loops run over spike frames; pixels are vectorised.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

F = np.float32
U32 = 0xFFFFFFFF


def f32(text: str) -> np.float32:
    """The float32 nearest to the decimal ``text`` (exact rounding, ties to even)."""
    exact = Fraction(text)
    c = F(float(exact))
    best = min((c, np.nextafter(c, F(-np.inf)), np.nextafter(c, F(np.inf))),
               key=lambda v: (abs(Fraction(float(v)) - exact), int(np.array(v).view(np.uint32)) & 1))
    return F(best)


def philox(c0, c1, c2, c3, k0, k1):
    """Philox4x32-10 on uint64 arrays holding 32-bit values; returns 4 uint64 arrays."""
    M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c = [np.asarray(v, dtype=np.uint64) & U32 for v in (c0, c1, c2, c3)]
    k0, k1 = np.uint64(k0 & U32), np.uint64(k1 & U32)
    for _ in range(10):
        p0 = np.uint64(M0) * c[0]
        p1 = np.uint64(M1) * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & np.uint64(U32), (p0 >> np.uint64(32)) ^ c[3] ^ k1,
             p0 & np.uint64(U32)]
        k0 = np.uint64((int(k0) + W0) & U32)
        k1 = np.uint64((int(k1) + W1) & U32)
    return c


def uniform_co(x):
    return (x >> np.uint64(8)).astype(F) * F(2.0 ** -24)


def uniform_oo(x):
    return (((x >> np.uint64(9)) << np.uint64(1)) | np.uint64(1)).astype(F) * F(2.0 ** -24)


def fsqrt(x):
    x = x.astype(F)
    y = (np.uint32(0x5F3759DF) - (x.view(np.uint32) >> np.uint32(1))).view(F)
    h = F(0.5) * x
    for _ in range(3):
        y = y * (F(1.5) - h * (y * y))
    return x * y


LOG_P = [f32(t) for t in ("7.0376836292e-2", "-1.1514610310e-1", "1.1676998740e-1", "-1.2420140846e-1",
                          "1.4249322787e-1", "-1.6668057665e-1", "2.0000714765e-1", "-2.4999993993e-1",
                          "3.3333331174e-1")]


def log_unit(x):
    bits = x.view(np.uint32)
    e = ((bits >> np.uint32(23)) & np.uint32(0xFF)).astype(np.int32) - 127
    m = ((bits & np.uint32(0x7FFFFF)) | np.uint32(0x3F800000)).view(F)
    big = m > f32("1.41421356")
    m = np.where(big, m * F(0.5), m)
    e = e + big
    f = m - F(1)
    z = f * f
    p = np.full_like(f, LOG_P[0])
    for coef in LOG_P[1:]:
        p = p * f + coef
    fe = e.astype(F)
    y = (p * f) * z
    y = y + fe * f32("-2.12194440e-4")
    y = y - F(0.5) * z
    return (f + y) + fe * f32("0.693359375")


def sincos_turn(word):
    k = word >> np.uint64(8)
    q = (k >> np.uint64(22)).astype(np.int64)
    r = (k & np.uint64(0x3FFFFF)).astype(F) * F(2.0 ** -24)
    swap = r > F(0.125)
    t = np.where(swap, F(0.25) - r, r)
    x = t * f32("6.28318530718")
    z = x * x
    c = (f32("2.443315711809948e-5") * z + f32("-1.388731625493765e-3")) * z + f32("4.166664568298827e-2")
    c = ((c * z) * z - F(0.5) * z) + F(1)
    s = (f32("-1.9515295891e-4") * z + f32("8.3321608736e-3")) * z + f32("-1.6666654611e-1")
    s = (s * z) * x + x
    cr, sr = np.where(swap, s, c), np.where(swap, c, s)
    cos = np.select([q == 0, q == 1, q == 2], [cr, -sr, -cr], sr)
    sin = np.select([q == 0, q == 1, q == 2], [sr, cr, -sr], -cr)
    return cos, sin


def normal_pair(a, b):
    r = fsqrt(F(-2) * log_unit(uniform_oo(a)))
    c, s = sincos_turn(b)
    return r * c, r * s


def random_words(seed, pixel, index, tag, batch):
    k0, k1 = seed & U32, (seed >> 32) & U32
    index = np.uint64(index)
    return philox(pixel, index & np.uint64(U32), np.uint64(tag) | ((index >> np.uint64(32)) << np.uint64(8)),
                  batch, k0, k1)


def shot_normal(seed, pixel, frame, batch):
    """The shot-noise normal of spike frame ``frame`` for pixel indices ``pixel``."""
    x = random_words(seed, pixel, frame >> 2, 0, batch)
    j = frame & 3
    return normal_pair(x[0], x[1])[j] if j < 2 else normal_pair(x[2], x[3])[j - 2]


def init_state(B, H, W, threshold, sigma, random_init, seed):
    """(acc, comp, theta) float32 (B, H, W) as simulate_init defines them."""
    pix = np.arange(H * W, dtype=np.uint64)
    acc = np.zeros((B, H * W), F)
    theta = np.full((B, H * W), F(threshold), F)
    for b in range(B):
        if sigma > 0:
            x = random_words(seed, pix, 0, 2, b)
            factor = F(1) + F(sigma) * normal_pair(x[0], x[1])[0]
            factor = np.where(factor >= F(0.05), factor, F(0.05))
            theta[b] = F(threshold) * factor
        if random_init:
            x = random_words(seed, pix, 0, 1, b)
            acc[b] = uniform_co(x[0]) * theta[b]
    return acc.reshape(B, H, W), np.zeros((B, H, W), F), theta.reshape(B, H, W)


def simulate_frames(intensity, acc, comp, theta, gain, dark, shot, seed, frame0):
    """Reference of the simulate_frames op: returns uint8 (B, N, H, W); updates acc, comp in place."""
    B, N, H, W = intensity.shape
    pix = np.arange(H * W, dtype=np.uint64)
    theta_fire = theta * f32("0.999999")
    out = np.zeros((B, N, H, W), np.uint8)
    for b in range(B):
        for t in range(N):
            x = intensity[b, t].astype(F)
            x = np.where(x >= F(2.0 ** -64), np.where(x <= F(1), x, F(1)), F(0))
            q = F(gain) * x + F(dark)
            if shot > 0:
                z = shot_normal(seed, pix, frame0 + t, b).reshape(H, W)
                q = q + fsqrt(q * F(shot)) * z
            y = q - comp[b]
            s = acc[b] + y
            comp[b] = (s - acc[b]) - y
            spike = s >= theta_fire[b]
            acc[b] = np.where(spike, s - theta[b], s)
            out[b, t] = spike
    return out


def interp_frames(start, delta, alpha):
    """float32 (B, N, H, W) intensities start + alpha[t] * delta (what simulate_interp integrates)."""
    return (start[:, None] + (alpha.astype(F)[None, :, None, None] * delta[:, None])).astype(F)


def pack(spikes):
    """uint8 (..., H, W) -> the .dat bytes (..., ceil(H*W/8)): rows bottom-up, LSB first."""
    flipped = spikes[..., ::-1, :]
    flat = flipped.reshape(*spikes.shape[:-2], -1)
    return np.packbits(flat, axis=-1, bitorder="little")
