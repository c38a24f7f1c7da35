"""ssml-lite and the footage-like training data: video clips, supervised objectives, the lite
network and its weights, ``-m ssml-lite``, and the held-out test grid."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ssml.config import TrainConfig
from ssml.lite import LiteNet
from ssml.train import Trainer, train
from ssml.video import TEST_SPAN, TRAIN_SPAN, VideoClips, load_clip

VIDEO = "video/carphone_pristine.mp4"


def lite_config(tmp_path, shared, **kw) -> TrainConfig:
    base = dict(out=str(tmp_path / "run"), steps=3, batch=2, crop=16, model="lite", objective="supervised",
                images=["camera", "coins"], image_size=64, videos=[str(shared / VIDEO)], video_fraction=0.5,
                video_height=48, val_sim=0, val_every=0, log_every=1, ckpt_every=0, ckpt_minutes=0, threads=1)
    base.update(kw)
    return TrainConfig(**base)


# --- video clips ---------------------------------------------------------------------------------

def test_clip_spans_are_disjoint_segments_of_the_video(shared_data):
    from spikekit.simulate.source import open_source

    frames = list(open_source(shared_data / VIDEO).frames())
    n = len(frames)
    train_clip = load_clip(shared_data / VIDEO, 48, TRAIN_SPAN)
    test_clip = load_clip(shared_data / VIDEO, 48, TEST_SPAN)
    assert train_clip.shape[0] == math.floor(0.75 * n) and test_clip.shape[0] == n - math.floor(0.8 * n)
    assert TRAIN_SPAN[1] < TEST_SPAN[0]
    # The first test frame is video frame floor(0.8 N), resized: compare with a plain resize.
    ref = torch.nn.functional.interpolate(frames[math.floor(0.8 * n)][None, None], size=test_clip.shape[-2:],
                                          mode="bilinear", antialias=True, align_corners=False)[0, 0]
    assert torch.allclose(test_clip[0].float() / 255, ref.clamp(0, 1), atol=1 / 255 + 1e-6)


def test_video_windows_follow_the_pan_and_the_clip(shared_data):
    """A static clip (rate 0), zoom 1, a pan of exactly 1 output pixel per spike frame to the right:
    frame tau of the window is frame 0 shifted left by tau pixels (a plain slice)."""
    clips = VideoClips([shared_data / VIDEO], 48, TRAIN_SPAN)
    tau = torch.arange(-3, 4, dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    out = clips.windows(gen, 3, 16, tau, rate=torch.zeros(3), zoom=torch.ones(3),
                        pan=torch.tensor([[1.0, 0.0]] * 3), shake=0.0)
    assert out.shape == (3, 7, 16, 16) and 0 <= out.min() and out.max() <= 1
    for t in range(1, 7):  # out[:, t, :, x] == out[:, 0, :, x + t] where both exist
        torch.testing.assert_close(out[:, t, :, :16 - t], out[:, 0, :, t:], atol=1e-5, rtol=0)
    # Without the pan, a clip playing at rate 0 is constant in time.
    still = clips.windows(torch.Generator().manual_seed(0), 3, 16, tau, torch.zeros(3), torch.ones(3),
                          torch.zeros(3, 2), 0.0)
    assert torch.equal(still[:, :1].expand_as(still), still)


def test_video_windows_interpolate_video_time(tmp_path):
    """A synthetic clip whose frame k is the constant 5k/255: a spike frame at video time t shows
    exactly 5t/255, so successive spike frames differ by 5 rate / 255 (linear in time)."""
    import imageio.v3 as iio

    (tmp_path / "ramp").mkdir()
    for k in range(41):  # a folder of frames is a video to spikekit.simulate.source.open_source
        iio.imwrite(tmp_path / "ramp" / f"f{k}.png", np.full((32, 40), 5 * k, np.uint8))
    clips = VideoClips([tmp_path / "ramp"], 32, (0.0, 1.0))
    tau = torch.arange(-20, 21, dtype=torch.float32)
    rate = torch.tensor([0.05, 0.3, 0.5])
    out = clips.windows(torch.Generator().manual_seed(1), 3, 8, tau, rate, torch.ones(3), torch.zeros(3, 2), 0.0)
    step = out[:, 1:, 4, 4] - out[:, :-1, 4, 4]
    torch.testing.assert_close(step, (5 / 255 * rate)[:, None].expand_as(step), atol=1e-5, rtol=0)
    assert float(out.max()) <= 200 / 255 + 1e-6


def test_scene_simulator_mixes_videos_photos_and_objects(shared_data, tmp_path):
    from ssml.data import SceneSimulator

    cfg = lite_config(tmp_path, shared_data, objects=3, object_prob=1.0, shake=1.0, brightness=[0.05, 1.0],
                      brightness_log=True, video_fraction=0.5)
    sim = SceneSimulator(cfg, 4, device="cpu")
    gen = torch.Generator().manual_seed(2)
    spikes, gt = sim.sample(gen, 5)
    assert spikes.shape == (4, 41, 16, 16) and gt.shape == (4, 1, 16, 16)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0} and 0 <= gt.min() and gt.max() <= 1
    again = SceneSimulator(cfg, 4, device="cpu").sample(torch.Generator().manual_seed(2), 5)
    assert torch.equal(again[0], spikes) and torch.equal(again[1], gt)


@pytest.mark.parametrize("values, message", [
    ({"model": "lite"}, "objective"),                      # the lite model needs ground truth
    ({"objective": "supervised", "sim_fraction": 0.0, "dat": ["a.dat"]}, "objective"),
    ({"video_fraction": 0.5}, "videos"),
    ({"video_span": [0.8, 0.5]}, "video_span"),
    ({"model": "unet"}, "model"),
    ({"lite_width": 2}, "lite_width"),
    ({"lite_width": 8.5}, "lite_width"),
])
def test_config_rejects_inconsistent_objectives(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**values).validate()


# --- the network ---------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(16, 16), (13, 22), (1, 5)])
def test_lite_starts_from_tfp41_and_keeps_any_size(size):
    """With the last conv zeroed, the output is exactly the window's mean firing rate (TFP-41)."""
    net = LiteNet().eval()
    torch.nn.init.zeros_(net.out.weight)
    torch.nn.init.zeros_(net.out.bias)
    x = (torch.rand(2, 41, *size, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 1, *size) and y.dtype == torch.float32
    torch.testing.assert_close(y, x.mean(1, keepdim=True))


def test_lite_rejects_a_wrong_window():
    with pytest.raises(ValueError, match=r"\(B, 41, H, W\)"):
        LiteNet()(torch.zeros(1, 40, 8, 8))


# --- training, weights and -m ssml-lite ----------------------------------------------------------

def test_a_wider_lite_is_built_by_its_config_and_read_back_at_its_width(tmp_path):
    """``lite_width`` sets the channels (parameters grow as its square); a weights file of any width
    loads as that width and gives the same output."""
    import ssml
    from ssml.train import build_model

    wide = build_model(TrainConfig(model="lite", objective="supervised", lite_width=48)).eval()
    base = sum(p.numel() for p in LiteNet().parameters())
    assert wide.enc1[0].out_channels == 48 and 2.0 < sum(p.numel() for p in wide.parameters()) / base < 2.5
    path = tmp_path / "wide.pt"
    torch.save(wide.state_dict(), path)
    loaded = ssml.load_model(path)
    x = (torch.rand(1, 41, 12, 16, generator=torch.Generator().manual_seed(5)) < 0.3).float()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), wide(x))


def test_lite_training_lowers_the_supervised_loss_and_resumes(shared_data, tmp_path):
    cfg = lite_config(tmp_path, shared_data, steps=30, lr=2e-3, log_every=1)
    summary = train(cfg)
    assert summary["step"] == 30
    import csv

    with open(tmp_path / "run" / "log.csv") as f:
        sup = [float(r["value"]) for r in csv.DictReader(f) if r["tag"] == "loss/supervised"]
    assert len(sup) == 30 and np.mean(sup[-5:]) < np.mean(sup[:5])
    # Resuming from the checkpoint gives the same parameters as running straight through.
    straight = Trainer(lite_config(tmp_path / "b", shared_data, steps=4))
    straight.run()
    half = lite_config(tmp_path / "c", shared_data, steps=4)
    train(half, callback=lambda t: setattr(t, "_stop", t.step == 2))
    resumed = Trainer(half, resume=half.out)
    resumed.run()
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)


def test_hybrid_objective_logs_both_terms(shared_data, tmp_path):
    cfg = lite_config(tmp_path, shared_data, model="ssml", objective="hybrid", nla=False, steps=2)
    summary = train(cfg)
    assert {"loss/supervised", "loss/reconstruction", "loss/mutual"} <= set(summary["last"])
    total = summary["last"]
    assert total["loss/total"] == pytest.approx(total["loss/reconstruction"] + 0.01 * total["loss/mutual"]
                                                + total["loss/supervised"], rel=1e-5)


def test_lite_weights_load_and_reconstruct(tmp_path):
    import ssml
    from spikekit.recon import get_method, reconstruct

    net = LiteNet().eval()
    path = tmp_path / "lite.pt"
    torch.save(net.state_dict(), path)
    model = ssml.load_model(path)
    assert isinstance(model, LiteNet)
    spikes = (torch.rand(45, 20, 24, generator=torch.Generator().manual_seed(4)) < 0.4).to(torch.uint8)
    image = reconstruct(get_method("ssml-lite"), spikes, at=22, weights=str(path), anchor=0, precision="fp32")
    with torch.no_grad():
        want = (net(spikes[2:43][None].float())[0, 0] / 0.6).clamp(0, 1)
    torch.testing.assert_close(image, want, atol=1e-5, rtol=1e-5)
    # SSML weights are refused by a lite run's --init, and the message says which model they fit.
    ssml_path = tmp_path / "ssml.pt"
    torch.save(ssml.SSML(nla=False).state_dict(), ssml_path)
    with pytest.raises(ValueError, match="model=ssml"):
        Trainer(TrainConfig(out=str(tmp_path / "r2"), model="lite", objective="supervised", images=["camera"],
                            init=str(ssml_path), threads=1))
