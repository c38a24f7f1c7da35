"""SSML model: blind-spot property, shapes, building blocks and attention vs plain references."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import ssml
from ssml import attention, layers
from ssml.amim import AMIM, tfi
from ssml_model_util import one_thread, spikes  # noqa: F401  (autouse fixture)


def randomise(model: torch.nn.Module, seed: int = 0, std: float = 0.1) -> torch.nn.Module:
    """Non-trivial weights everywhere (attention gammas start at 0 otherwise)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * std)
    return model


# --- the blind-spot property ------------------------------------------------------------------

def positions(h, w, n):
    """Centre, corners and edge midpoints of an h x w frame, the first n of them."""
    pts = [(h // 2, w // 2), (0, 0), (h - 1, w // 2), (h - 1, w - 1), (0, w // 3),
           (0, w - 1), (h - 1, 0), (h // 3, 0), (h // 2, w - 1)]
    return pts[:n]


@pytest.fixture(scope="module")
def bsn():
    return randomise(ssml.BSN(), seed=1)


@pytest.mark.parametrize("size,train,n", [((40, 40), True, 9), ((40, 40), False, 9),
                                          ((37, 53), True, 5), ((37, 53), False, 5),
                                          ((64, 96), True, 3), ((64, 96), False, 5)])
def test_bsn_blind_spot_exact(bsn, size, train, n):
    """Flipping all 41 frames at one pixel leaves the BSN output there bit-identical (float32:
    the pixel never enters the arithmetic of its own output), while its neighbours change.
    (n positions per case keeps the test short; all 9 at 40 x 40.)"""
    h, w = size
    pts = positions(h, w, n)
    base = spikes(1, 41, h, w, seed=h * w)
    bsn.train(train)
    with torch.no_grad():  # one call per input: some CPU kernels round by batch position
        ref = bsn(base)
        assert ref.shape == (1, 1, h, w)
        for r, c in pts:
            x = base.clone()
            x[0, :, r, c] = 1 - x[0, :, r, c]
            out = bsn(x)
            assert torch.equal(out[0, 0, r, c], ref[0, 0, r, c]), (size, (r, c))
            assert (out != ref).sum().item() > 0, "the perturbation must be visible to the other pixels"


def test_bsn_blind_spot_float64():
    h, w = 16, 21
    model = randomise(ssml.BSN(), seed=3).double().eval()
    base = spikes(1, 41, h, w, seed=4, dtype=torch.float64)
    with torch.no_grad():
        ref = model(base)
        for r, c in [(8, 10), (0, 20), (15, 0)]:
            x = base.clone()
            x[0, :, r, c] = 1 - x[0, :, r, c]
            out = model(x)
            assert torch.equal(out[0, 0, r, c], ref[0, 0, r, c]) and not torch.equal(out, ref)


def test_bsn_blind_spot_channels_last_and_nbsn_sees_centre(bsn):
    h, w = 24, 31
    base = spikes(1, 41, h, w, seed=5)
    pert = base.clone()
    pert[0, :, 11, 17] = 1 - pert[0, :, 11, 17]
    model = bsn.eval().to(memory_format=torch.channels_last)
    with torch.no_grad():  # separate calls: channels-last kernels round by batch position
        out = [model(x.contiguous(memory_format=torch.channels_last)) for x in (base, pert)]
        nb = randomise(ssml.NBSN(nla=True), seed=2).eval()(torch.cat((base, pert)))
    bsn.to(memory_format=torch.contiguous_format)
    assert torch.equal(out[0][0, 0, 11, 17], out[1][0, 0, 11, 17])
    assert nb[0, 0, 11, 17] != nb[1, 0, 11, 17]  # the non-blind network does see its pixel


# --- shapes ------------------------------------------------------------------------------------

@pytest.mark.parametrize("size,nla", [((40, 40), True), ((37, 53), False), ((1, 3), True)])
def test_shapes_small(size, nla):
    h, w = size
    model = ssml.SSML(nla=nla)
    x = spikes(2, 41, h, w, seed=3)
    with torch.no_grad():
        bsn_out, nbsn_out = model.train()(x)
    assert bsn_out.shape == nbsn_out.shape == (2, 1, h, w)
    assert torch.isfinite(bsn_out).all() and torch.isfinite(nbsn_out).all()
    with torch.no_grad():
        out = model.eval()(x.to(torch.uint8))
    assert out.shape == (2, 1, h, w) and out.dtype == torch.float32


def test_train_mode_output_is_a_named_pair_that_still_unpacks():
    model = ssml.SSML(nla=False).train()
    x = spikes(1, 41, 8, 8, seed=1)
    with torch.no_grad():
        out = model(x)
        bsn_out, nbsn_out = out  # as before: a tuple
    assert isinstance(out, ssml.PairOutput) and isinstance(out, tuple) and out._fields == ("bsn", "nbsn")
    assert out.bsn is bsn_out and out.nbsn is nbsn_out and out[1] is nbsn_out
    with torch.no_grad():
        assert torch.equal(out.nbsn, model.nbsn(x)) and torch.equal(out.bsn, model.bsn(x))


def test_nbsn_full_frame_shape():
    """The inference path (eval NBSN with NLA, no grad) at the full 250 x 400 sensor size."""
    model = randomise(ssml.NBSN(nla=True), seed=4, std=0.02).eval()
    with torch.no_grad():
        out = model(spikes(1, 41, 250, 400, seed=6))
    assert out.shape == (1, 1, 250, 400) and torch.isfinite(out).all()


@pytest.mark.parametrize("size", [(250, 400), (400, 250)])
def test_full_frame_shapes_meta(size):
    """Shape inference on the meta device (no arithmetic) for both networks, both orientations."""
    model = ssml.SSML(nla=True).to("meta")
    bsn_out, nbsn_out = model.train()(torch.empty(1, 41, *size, device="meta"))
    assert bsn_out.shape == nbsn_out.shape == (1, 1, *size)


def test_bad_input_shape():
    with pytest.raises(ValueError, match=r"\(B, 41, H, W\)"):
        ssml.NBSN()(torch.zeros(1, 40, 8, 8))
    with pytest.raises(ValueError, match="BSN"):
        ssml.BSN()(torch.zeros(41, 8, 8))


# --- building blocks vs plain references -------------------------------------------------------

def ref_conv(x, weight, blind):
    if blind:  # zero row on top, replicate pad, conv, LeakyReLU, drop the last row
        x = F.pad(x, (0, 0, 1, 0))
    y = F.leaky_relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight), 0.1)
    return y[..., :-1, :] if blind else y


@pytest.mark.parametrize("blind", [True, False])
@pytest.mark.parametrize("size", [(7, 9), (1, 4), (6, 1)])
def test_conv_matches_reference(blind, size):
    conv = randomise(layers.Conv(3, 5, blind=blind), seed=7).double()
    x = torch.randn(2, 3, *size, dtype=torch.float64)
    torch.testing.assert_close(conv(x), ref_conv(x, conv.conv.weight, blind))


def test_blind_conv_receptive_field():
    """Output row r depends on input rows r-2..r only."""
    conv = randomise(layers.Conv(1, 1, blind=True), seed=8).double()
    x = torch.randn(1, 1, 9, 6, dtype=torch.float64, requires_grad=True)
    conv(x)[0, 0, 4, 3].backward()
    rows = x.grad[0, 0].abs().sum(dim=1).nonzero().flatten().tolist()
    assert rows == [2, 3, 4]


def test_blind_pool_and_shift():
    x = torch.randn(2, 3, 7, 5, dtype=torch.float64)
    shifted = torch.cat((torch.zeros(2, 3, 1, 5, dtype=torch.float64), x[:, :, :-1]), dim=2)
    torch.testing.assert_close(layers.Pool(blind=True)(x), F.max_pool2d(shifted, 2))
    torch.testing.assert_close(layers.shift_down(x), shifted)
    assert layers.Pool(blind=False)(x).shape == (2, 3, 3, 2)


def test_rotate_unrotate():
    x = torch.randn(2, 3, 5, 5)
    r = layers.rotate(x)
    assert r.shape == (8, 3, 5, 5)
    torch.testing.assert_close(r[4:6], x.flip(-1).flip(-2))
    back = layers.unrotate(r)
    assert back.shape == (2, 12, 5, 5)
    for k in range(4):
        torch.testing.assert_close(back[:, 3 * k:3 * k + 3], x)
    with pytest.raises(ValueError, match="square"):
        layers.rotate(torch.zeros(1, 1, 3, 4))


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (1, 1), (3, 1)])
def test_unet_keeps_size(size):
    for blind in (True, False):
        net = layers.UNet(5, 7, blind=blind)
        assert net(torch.randn(2, 5, *size)).shape == (2, 7, *size)


def ref_isi(s, m, n):
    """Per pixel: last spike in [m-n+1, m] (else m-n), first in [m+1, m+n] (else m+n)."""
    b, t, h, w = s.shape
    out = torch.empty(b, h, w, dtype=torch.float64)
    for i in range(b):
        for y in range(h):
            for x in range(w):
                left = [f for f in range(max(0, m - n + 1), m + 1) if s[i, f, y, x] > 0]
                right = [f for f in range(m + 1, min(t, m + n + 1)) if s[i, f, y, x] > 0]
                out[i, y, x] = (right[0] if right else m + n) - (left[-1] if left else m - n)
    return out


@pytest.mark.parametrize("middle,frames", [(20, 41), (13, 27)])
def test_tfi_matches_reference(middle, frames):
    s = spikes(3, frames, 4, 5, p=0.08, seed=9)
    s[0, :, 0, 0] = 0  # a dark pixel: both sides missing -> 1 / 24
    expected = 1.0 / ref_isi(s, middle, 12)
    got = tfi(s, middle, 12)
    assert got.shape == (3, 1, 4, 5)
    torch.testing.assert_close(got[:, 0].double(), expected)
    assert got[0, 0, 0, 0].item() == pytest.approx(1 / 24)


def test_amim_windows_and_gates():
    """Learned TFP convs see the centred 11/19/27 frames; blind AMIM has no gates."""
    amim = AMIM(41, blind=True)
    assert not hasattr(amim, "spatial")
    x = spikes(1, 41, 6, 6, seed=10, dtype=torch.float64)
    amim = randomise(amim.double(), seed=11)
    x.requires_grad_(True)
    amim(x).sum().backward()
    used = x.grad.abs().sum(dim=(0, 2, 3)).nonzero().flatten().tolist()
    assert used == list(range(20 - 13, 20 + 14))  # 27-frame window (TFI carries no gradient)
    nb = AMIM(27, blind=False)
    assert nb(spikes(2, 27, 9, 7, seed=12)).shape == (2, 16, 9, 7)
    with pytest.raises(ValueError, match="27 spike frames"):
        nb(spikes(1, 26, 4, 4))


def ref_criss_cross(x, mod):
    """Per pixel: softmax over its column (itself excluded) and row (itself included)."""
    q, k, v = mod.q(x), mod.k(x), mod.v(x)
    n, c, h, w = x.shape
    out = torch.empty_like(x)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                keys = [(ii, j) for ii in range(h) if ii != i] + [(i, jj) for jj in range(w)]
                e = torch.stack([(q[b, :, i, j] * k[b, :, a, d]).sum() for a, d in keys])
                a = torch.softmax(e, 0)
                out[b, :, i, j] = sum(a[t] * v[b, :, p, d] for t, (p, d) in enumerate(keys))
    return mod.gamma * out + x


@pytest.mark.parametrize("size", [(5, 6), (1, 4), (4, 1)])
def test_criss_cross_matches_reference(size, monkeypatch):
    monkeypatch.setattr(attention, "CHUNK_ELEMENTS", 7)  # force several chunks
    mod = randomise(attention.CrissCrossAttention(16), seed=13, std=0.5).double()
    x = torch.randn(2, 16, *size, dtype=torch.float64, requires_grad=True)
    got = mod(x)
    expected = ref_criss_cross(x, mod)
    torch.testing.assert_close(got, expected)
    g1 = torch.autograd.grad(got.square().sum(), [x, mod.q.weight, mod.gamma])
    g2 = torch.autograd.grad(expected.square().sum(), [x, mod.q.weight, mod.gamma])
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b)
    with torch.no_grad():  # the in-place inference path
        torch.testing.assert_close(mod(x), expected)


def test_channel_attention_matches_formula():
    mod = attention.ChannelAttention().double()
    with torch.no_grad():
        mod.gamma.fill_(0.7)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    flat = x.reshape(2, 3, 20)
    e = flat @ flat.transpose(1, 2)
    a = torch.exp(e.max(dim=-1, keepdim=True).values - e)
    a = a / a.sum(dim=-1, keepdim=True)
    torch.testing.assert_close(mod(x), 0.7 * (a @ flat).reshape(x.shape) + x)


def test_nla_zero_init_is_identity_plus_fuse():
    """With gammas at 0 the attentions pass features through; output = x + fuse(branches)."""
    nla = attention.NonLocalAttention(8, 3)
    x = torch.randn(2, 3, 8, 5, 6)
    assert nla(x).shape == x.shape
    with torch.no_grad():
        nla.fuse.weight.zero_()
        nla.fuse.bias.zero_()
    torch.testing.assert_close(nla(x), x)


def test_autocast_bf16_and_channels_last_train_step():
    """The set-up of ``spikekit train --amp bf16`` (channels_last by default): bf16 autocast on CPU, backward."""
    model = ssml.SSML(nla=True).to(memory_format=torch.channels_last).train()
    x = spikes(2, 41, 20, 20, seed=14).contiguous(memory_format=torch.channels_last)
    from ssml.losses import pseudo_label, ssml_loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        bsn_out, nbsn_out = model(x)
        terms = ssml_loss(bsn_out, nbsn_out, pseudo_label(x))
    assert bsn_out.dtype == torch.bfloat16 and terms.total.dtype == torch.float32
    terms.total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads[:5])
    assert math.isfinite(terms.total.item())


def test_channels_last_matches_contiguous():
    model = randomise(ssml.NBSN(nla=True), seed=15, std=0.05).eval()
    x = spikes(1, 41, 19, 23, seed=16)
    with torch.no_grad():
        a = model(x)
        b = model.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_count_parameters():
    counts = ssml.count_parameters(ssml.SSML(nla=True))
    assert counts["total"] == counts["trainable"] == counts["bsn"] + counts["nbsn"]
    plain = ssml.count_parameters(ssml.SSML(nla=False))
    assert counts["nbsn"] - plain["nbsn"] == ssml.count_parameters(attention.NonLocalAttention(32, 3))["total"]
    assert 3_000_000 < counts["total"] < 5_000_000
