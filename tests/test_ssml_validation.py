"""ssml.validation: the --val figures are those of the anchored image `spikekit recon` delivers."""
from __future__ import annotations

import numpy as np
import torch

from spikekit.io import SpikeStream
from spikekit.metrics import load_gt, psnr
from ssml.config import TrainConfig
from ssml.validation import Validator, centre_crop


class TwiceTfp(torch.nn.Module):
    """A 'network' whose output is twice the window's TFP-41: right structure, wrong brightness."""

    def forward(self, spikes):
        return 2 * spikes.float().mean(dim=1, keepdim=True)


def test_anchored_and_raw_case_figures(shared_data):
    dat, gt_png = shared_data / "reds301/spike/200_part1_key_id151.dat", shared_data / "reds301/gt/200_part1_key_id151.png"
    cfg = TrainConfig(val=[f"{dat}:{gt_png}:150"], val_sim=0, val_crop=48)
    scores = Validator(cfg, torch.device("cpu"))(TwiceTfp())
    with SpikeStream(dat) as s:
        window = np.asarray(s[130:171]).astype(np.float64)
    tfp = centre_crop(torch.from_numpy(window.mean(0)), 48).numpy()
    gt = centre_crop(torch.from_numpy(load_gt(gt_png)), 48).numpy()
    # anchoring scales the image to the window's mean firing rate: exactly TFP-41 here
    assert abs(scores["val/200_part1_psnr"] - psnr((tfp / 0.6).clip(0, 1), gt)) < 0.01
    assert abs(scores["val/200_part1_raw_psnr"] - psnr((2 * tfp / 0.6).clip(0, 1), gt)) < 0.01
    assert scores["val/200_part1_psnr"] > scores["val/200_part1_raw_psnr"] + 3
    assert set(scores) == {f"val/200_part1_{k}" for k in ("psnr", "ssim", "raw_psnr", "raw_ssim")}


def test_cases_at_a_stream_end_read_the_mirrored_window_and_get_distinct_names(shared_data):
    """Key 7 of the 41-frame reds41 stream (index 6): the window [-14, 27) is read mirrored about
    frame 0, as `spikekit recon --pad reflect` reads it; two cases of one stream are told apart."""
    dat = shared_data / "reds41/spike/000_part1_key_id21.dat"
    gts = {6: shared_data / "reds41/gt/000_part1_key_id7.png", 20: shared_data / "reds41/gt/000_part1_key_id21.png"}
    cfg = TrainConfig(val=[f"{dat}:{gt}:{i}" for i, gt in gts.items()], val_sim=0, val_crop=48)
    scores = Validator(cfg, torch.device("cpu"))(TwiceTfp())
    with SpikeStream(dat) as s:
        frames = np.asarray(s[0:41]).astype(np.float64)
    for index, gt_png in gts.items():
        window = np.stack([frames[abs(t)] for t in range(index - 20, index + 21)])  # plain mirror about 0
        tfp = centre_crop(torch.from_numpy(window.mean(0)), 48).numpy()
        gt = centre_crop(torch.from_numpy(load_gt(gt_png)), 48).numpy()
        assert abs(scores[f"val/000_part1@{index}_psnr"] - psnr((tfp / 0.6).clip(0, 1), gt)) < 0.01
    assert scores["val/000_part1@6_psnr"] != scores["val/000_part1@20_psnr"]
