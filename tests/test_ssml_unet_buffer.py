"""The U-Net's decoder input built padded in one buffer (src/ssml/layers.py UNet._up_cat) equals
upsample + pad + concatenate + the conv's own padding, done one after the other."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssml.layers import UNet
from ssml_model_util import one_thread  # noqa: F401  (autouse fixture)


def plain_up_cat(x, skip):
    x = F.interpolate(x, scale_factor=2.0, mode="nearest")
    dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
    return torch.cat((F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2)), skip), dim=1)


def plain_unet(u, x):
    e1 = u.pool(u.enc1(x))
    e2 = u.pool(u.enc2(e1))
    y = u.dec2(plain_up_cat(u.enc3(e2), e1))
    return u.dec1(plain_up_cat(y, x))


def plain_padding(x, blind):
    if blind:
        x = F.pad(x, (1, 1, 2, 0), mode="replicate")
        x[..., :2, :] = 0
        return x
    return F.pad(x, (1, 1, 1, 1), mode="replicate")


@pytest.mark.parametrize("blind", [False, True])
@pytest.mark.parametrize("size", [(8, 12), (9, 13), (11, 10)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_buffer_equals_plain_steps(blind, size, channels_last):
    torch.manual_seed(0)
    u = UNet(5, 3, blind=blind)
    skip = torch.randn(2, 4, *size)
    x = torch.randn(2, 6, size[0] // 2, size[1] // 2)
    if channels_last:
        skip, x = (t.contiguous(memory_format=torch.channels_last) for t in (skip, x))
    want = plain_padding(plain_up_cat(x, skip), blind)
    got = u._up_cat(x, skip)
    assert got.shape == want.shape and torch.equal(got, want)


@pytest.mark.parametrize("blind", [False, True])
def test_unet_matches_plain_composition(blind):
    torch.manual_seed(1)
    u = UNet(7, 2, blind=blind).eval()
    x = torch.randn(1, 7, 13, 18)
    with torch.no_grad():
        torch.testing.assert_close(u(x), plain_unet(u, x), rtol=1e-5, atol=1e-6)


def test_mixed_dtypes_promote_as_cat():
    """Under bf16 autocast the skip may be float32 and the upsampled map bf16: float32 result."""
    u = UNet(3, 2)
    x, skip = torch.randn(1, 4, 3, 4).bfloat16(), torch.randn(1, 2, 6, 8)
    got = u._up_cat(x, skip)
    assert got.dtype == torch.float32
    assert torch.equal(got, plain_padding(plain_up_cat(x.float(), skip), False))
