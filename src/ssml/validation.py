"""Validation during training: the ``--val`` cases, the fixed simulated scenes and their metrics.

A run validates every ``val_every`` steps (:meth:`Validator.__call__`) on

* ``val_sim`` simulated scenes, 64 x 64, drawn once from seed ``config.seed + 7919`` with their
  exact ground truth: PSNR/SSIM of the model's output / ``gain``, and of TFP over 21 spike frames
  as a reference (``val/sim_tfp21_psnr``);
* each ``--val DAT:GT_PNG:INDEX`` case (:func:`ssml.cases.parse_val`): the 41-frame window centred on INDEX
  (mirrored at the stream's ends where it runs past them, as ``spikekit recon`` reads it,
  ``spikekit.recon.padding``), the output scaled by ``val_scale``, optionally a centred
  ``val_crop``. ``val/<name>_psnr`` is the image ``spikekit recon -m ssml`` delivers:
  brightness-anchored to the window's mean firing rate (:func:`ssml.method.anchor_brightness`);
  ``val/<name>_raw_psnr`` the raw output's. The raw figure follows the output's overall
  brightness, which drifts during supervised training (8.6 dB below the anchored figure at one
  checkpoint, ``src/ssml/weights/MODEL_CARD.md``): runs are chosen by the anchored one. <name> is
  the ``.dat`` name up to ``_key``, with ``@INDEX`` added where several cases share a stream
  (``val/000_part1@6_psnr``).

Ground truth is used here only, never in a loss. The cases of the evaluation protocol (runs are
chosen by them) are listed in ``tools/protocol.py``.
"""
from __future__ import annotations

import numpy as np
import torch

from spikekit.metrics import psnr, ssim

from .cases import case_name, load_case, parse_val
from .data import SceneSimulator
from .method import anchor_brightness
from .networks import WINDOW

SIM_SEED_OFFSET = 7919
"""The simulated validation scenes use seed ``config.seed + SIM_SEED_OFFSET`` (apart from training's)."""
SIM_CROP = 64
"""Side of the simulated validation scenes, pixels."""


def image_metrics(pred: torch.Tensor, gt: torch.Tensor) -> tuple[float, float]:
    """Mean PSNR (dB) and SSIM over a batch, data range 1 (:mod:`spikekit.metrics`).

    Args:
        pred, gt: float (B, 1, H, W) intensities; ``pred`` is clipped to [0, 1] first.
    """
    p = pred.detach().float().clamp(0, 1).cpu()
    g = gt.detach().float().cpu()
    return (float(np.mean([psnr(a, b) for a, b in zip(p, g)])),
            float(np.mean([ssim(a, b) for a, b in zip(p, g)])))


def centre_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The centred ``size`` x ``size`` crop of the last two dimensions (the whole of a smaller side)."""
    h, w = x.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return x[..., top:top + size, left:left + size]


class Validator:
    """The validation of one run (see the module docstring).

    Args:
        config: the run's :class:`~ssml.config.TrainConfig` (``val``, ``val_sim``, ``val_crop``,
            ``val_scale``, ``gain``, ``seed``).
        device: where the model runs.
        memory_format: the model's input memory format (``torch.channels_last`` or contiguous).
        images: source photographs already on the device for the simulated scenes (None: loaded
            from ``config.images`` when first needed).

    Raises:
        ValueError: a bad ``--val`` case (:func:`parse_val`), when constructed.
    """

    def __init__(self, config, device, memory_format=torch.contiguous_format, images=None):
        self.cfg, self.device, self.fmt, self._images = config, device, memory_format, images
        self.cases = [parse_val(v) for v in config.val]
        names = [case_name(dat) for dat, _, _ in self.cases]
        self.names = [f"{n}@{i}" if names.count(n) > 1 else n for n, (_, _, i) in zip(names, self.cases)]
        self._sim = None

    def __bool__(self) -> bool:
        """Whether there is anything to validate on."""
        return bool(self.cfg.val_sim or self.cases)

    @torch.no_grad()
    def __call__(self, model: torch.nn.Module) -> dict:
        """PSNR/SSIM of ``model`` (eval mode, float32; train mode restored) on the simulated
        scenes (exact GT, output scaled by 1/gain) and on each ``--val`` case (scaled by
        ``val_scale``): ``{"val/sim_psnr", "val/sim_ssim", "val/sim_tfp21_psnr",
        "val/<name>_psnr", "val/<name>_ssim", "val/<name>_raw_psnr", "val/<name>_raw_ssim"}``
        (floats; <name> as in the module docstring; ``raw``: without brightness anchoring)."""
        model.eval()
        out = {}
        try:
            if self.cfg.val_sim:
                out.update(self._simulated(model))
            for name, (dat, gt_path, index) in zip(self.names, self.cases):
                anchored, raw = self._case(model, dat, gt_path, index)
                out[f"val/{name}_psnr"], out[f"val/{name}_ssim"] = anchored
                out[f"val/{name}_raw_psnr"], out[f"val/{name}_raw_ssim"] = raw
        finally:
            model.train()
        return out

    def _simulated(self, model) -> dict:
        """Metrics on the fixed simulated scenes, and TFP over 21 frames as a reference."""
        spikes, gt = self.simulated_scenes()
        preds = torch.cat([model(s[None].contiguous(memory_format=self.fmt)) for s in spikes])
        out = {}
        out["val/sim_psnr"], out["val/sim_ssim"] = image_metrics(preds / self.cfg.gain, gt)
        m = WINDOW // 2
        tfp = spikes[:, m - 10:m + 11].mean(1, keepdim=True) / self.cfg.gain
        out["val/sim_tfp21_psnr"] = image_metrics(tfp, gt)[0]
        return out

    def _case(self, model, dat, gt_path, index) -> tuple[tuple[float, float], tuple[float, float]]:
        """(PSNR, SSIM) of one ``--val`` case, brightness-anchored and raw (:func:`parse_val`
        checked the index and the GT size)."""
        spikes, gt = load_case(dat, gt_path, index, self.device)
        spikes, gt = spikes.float()[None], gt[None, None]
        if self.cfg.val_crop:
            spikes, gt = centre_crop(spikes, self.cfg.val_crop), centre_crop(gt, self.cfg.val_crop)
        raw = model(spikes.contiguous(memory_format=self.fmt)).float()
        anchored = anchor_brightness(raw[:, 0].clone(), spikes)[:, None]
        return image_metrics(anchored * self.cfg.val_scale, gt), image_metrics(raw * self.cfg.val_scale, gt)

    def simulated_scenes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed simulated scenes (``val_sim`` of them, :data:`SIM_CROP` pixels a side, seed
        ``config.seed + SIM_SEED_OFFSET``), made once: (spikes float32 (n, 41, c, c), gt float32
        (n, 1, c, c))."""
        if self._sim is None:
            seed = self.cfg.seed + SIM_SEED_OFFSET
            sim = SceneSimulator(self.cfg, self.cfg.val_sim, crop=SIM_CROP, device=self.device, images=self._images)
            gen = torch.Generator(device=self.device)
            gen.manual_seed(seed)
            self._sim = sim.sample(gen, seed)
        return self._sim
