"""Classic spike-camera reconstruction: TFP, TFI (with the batched ISI op) and TFSTP.

* :func:`tfp` - mean firing rate over a window (Zhu et al., ICME 2019; Chen et al. 2022, Eq. 2)
* :func:`tfi` / :func:`isi` - inverse inter-spike interval (Chen et al. 2022, Eq. 3)
* :func:`tfstp` - short-term plasticity steady state (Zheng et al., CVPR 2021)

All take a :class:`~spikekit.io.SpikeStream` (streamed in bounded memory) or a (..., T, H, W)
tensor and return float32 images in [0, 1]; ``scale`` defaults to 1/0.6 (firing probability
0.6 x intensity). The CLI is ``spikekit recon`` / ``spikekit eval`` / ``spikekit view``; new
methods plug in through :mod:`spikekit.recon.registry` (entry points, docs/plugins.md), each with
its options dataclass (:mod:`spikekit.recon.options`).
"""
from .base import DEFAULT_SCALE, Method, ReconPlan, iter_images, kernel_scale, plan_reconstruction, reconstruct
from .options import NoOptions
from .registry import get_method, method_names
from .source import Source, plan_chunks, run_packed
from .tfi import isi, tfi
from .tfp import tfp
from .tfstp import tfstp

__all__ = ["tfp", "tfi", "isi", "tfstp", "reconstruct", "iter_images", "plan_reconstruction", "ReconPlan",
           "get_method", "method_names", "Method", "NoOptions", "kernel_scale", "Source", "plan_chunks",
           "run_packed", "DEFAULT_SCALE"]
