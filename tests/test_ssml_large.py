"""Large frames: the NBSN's last stage in bands of rows (src/ssml/networks.py TILE_PIXELS) gives the
values of the whole-frame computation."""
from __future__ import annotations

import pytest
import torch

import ssml.networks as networks
from ssml_model_util import one_thread, spikes  # noqa: F401  (autouse fixture)


@pytest.mark.parametrize("channels_last", [True, False])
def test_banded_last_stage_matches_whole_frame(monkeypatch, channels_last):
    torch.manual_seed(0)
    model = networks.NBSN(nla=True).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)
    x = spikes(1, 41, 37, 45, seed=2)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        whole = model(x)  # 37 x 45 < TILE_PIXELS: one piece
        monkeypatch.setattr(networks, "TILE_PIXELS", 45 * 5)  # bands of 5 rows, the last of 2
        banded = model(x)
    assert banded.shape == whole.shape == (1, 1, 37, 45)
    # the same sums (3456 products per 3x3 output) in another blocking order: float32 rounding,
    # a few 1e-6 of the output's range, where a wrong band edge or row would be of its order
    torch.testing.assert_close(banded, whole, rtol=1e-4, atol=2e-5 * whole.abs().max().item())
    assert not torch.equal(whole, torch.zeros_like(whole))


def test_training_keeps_the_whole_frame_path(monkeypatch):
    """With autograd on, the last stage runs whole (its gradient flows as before)."""
    monkeypatch.setattr(networks, "TILE_PIXELS", 8)
    model = networks.NBSN(nla=False)
    out = model(spikes(1, 41, 9, 10, seed=3))
    out.sum().backward()
    assert model.head.a.weight.grad is not None and model.unet2.dec1[-1].conv.weight.grad is not None
