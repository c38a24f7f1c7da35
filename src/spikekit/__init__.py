"""spikekit: spiking-camera toolkit.

Bit-packed ``.dat`` spike streams (:mod:`spikekit.io`), an integrate-and-fire simulator
(:mod:`spikekit.simulate`), classic reconstruction (:mod:`spikekit.recon`: TFP, TFI, TFSTP),
metrics, and the ``spikekit`` command line. Tensors: spike streams are uint8
(T, H, W) of {0, 1}, row 0 the top of the image; images are float32 in [0, 1].
"""
from ._version import __version__
from . import ops
from .io import SpikeStream, npz_to_dat, read_dat, read_npz, write_dat
from .simulate import simulate, Simulator, NoiseModel  # the function shadows the subpackage name

__all__ = ["__version__", "ops", "SpikeStream", "read_dat", "write_dat", "read_npz", "npz_to_dat",
           "simulate", "Simulator", "NoiseModel"]
