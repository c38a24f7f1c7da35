// Per-element math of TFSTP (texture from short-term plasticity; Zheng et al., "High-speed image
// reconstruction through short-term plasticity for spiking cameras", CVPR 2021), shared by the
// CPU kernel (csrc/tfstp/cpu.cpp) and the CUDA kernel (csrc/tfstp/kernel.cu). The model, its
// steady-state inversion and the edge cases are documented in src/spikekit/recon/tfstp.py; every
// quantity is float64 and every expression is evaluated in the order written there.
#pragma once
#include <math.h>

#include "../common/layout.h"

namespace spikekit {

// Parameters: u0, f (dimensionless), D, F (spike frames); scale <= 0 returns the raw rate.
struct StpParams {
  double u0, d, big_f, f, scale;
};

// exp(-delta / tau): the decay over an interval of `delta` spike frames.
SK_HOST_DEVICE double stp_decay(int64_t delta, double tau) { return exp(static_cast<double>(-delta) / tau); }

// A spike after an interval whose decays are decay_d = stp_decay(delta, D) and
// decay_f = stp_decay(delta, F): R first (with the old u), then u.
SK_HOST_DEVICE void stp_spike(double& r, double& u, double decay_d, double decay_f, const StpParams& p) {
  r = 1.0 - (1.0 - r * (1.0 - u)) * decay_d;
  u = p.u0 + (p.f - p.u0 + u * (1.0 - p.f)) * decay_f;
}

// 1 / Delta for a steady-state ratio exp(-Delta / tau); -1 when undefined (ratio <= 0).
SK_HOST_DEVICE double stp_rate(double ratio, double tau) {
  if (ratio <= 0.0) return -1.0;
  if (ratio >= 1.0) return 1.0;
  const double rate = -1.0 / (tau * log(ratio));
  return rate < 1.0 ? rate : 1.0;
}

// The intensity of a pixel in state (r, u): the mean of the defined rate estimates (facilitation
// and depression), times scale and clipped to 1 when scale > 0; 0 before its first spike.
SK_HOST_DEVICE float stp_intensity(double r, double u, bool spiked, const StpParams& p) {
  if (!spiked) return 0.0f;
  const double ru = stp_rate((u - p.u0) / (p.f - p.u0 + u * (1.0 - p.f)), p.big_f);
  const double rr = stp_rate((1.0 - r) / (1.0 - r * (1.0 - u)), p.d);
  double rate;
  if (ru >= 0.0 && rr >= 0.0) {
    rate = 0.5 * (ru + rr);
  } else {
    rate = ru > rr ? ru : rr;
    rate = rate > 0.0 ? rate : 0.0;
  }
  if (p.scale > 0.0) {
    rate = rate * p.scale;
    rate = rate < 1.0 ? rate : 1.0;
  }
  return static_cast<float>(rate);
}

}  // namespace spikekit
