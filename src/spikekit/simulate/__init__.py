"""Spiking-camera simulator: videos, image folders and arrays to spike streams.

* :func:`simulate` - a video to an in-memory spike stream (uint8 (T, H, W), or packed bytes).
* :func:`simulate_to_file` - a video to a ``.dat`` file + JSON sidecar (+ ground truth), in
  bounded memory (``spikekit simulate`` on the command line).
* :class:`Simulator` - the streaming camera (``.step(intensities) -> spikes``), CPU or CUDA,
  batched, used by on-device training-data generation.
* :class:`NoiseModel` - the noise terms.

The camera model with its equations: :mod:`spikekit.simulate.model`; timing and interpolation:
:mod:`spikekit.simulate.run`; input decoding and luminance: :mod:`spikekit.simulate.source`;
still images moved by per-frame affine maps (the demo's and the training scenes):
:mod:`spikekit.simulate.scene`.

``spikekit.simulate`` at the package top is the function :func:`simulate`; it also carries
``Simulator``, ``NoiseModel`` and ``simulate_to_file`` as attributes, so
``spikekit.simulate.Simulator`` works whichever of the two names one holds.
"""
from .model import NoiseModel, Simulator
from .run import interpolate, simulate, simulate_to_file, steps_for

simulate.Simulator = Simulator
simulate.NoiseModel = NoiseModel
simulate.simulate_to_file = simulate_to_file

__all__ = ["simulate", "simulate_to_file", "Simulator", "NoiseModel", "interpolate", "steps_for"]
