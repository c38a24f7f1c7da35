"""Non-local attention (NLA) of the SSML NBSN: criss-cross spatial, channel and temporal attention.

Sources: Chen et al., "Self-Supervised Mutual Learning for Dynamic Scene Reconstruction of Spiking
Camera", IJCAI 2022, Sec. 3.3 (NBSN with NLA); Huang et al., "CCNet: Criss-Cross Attention for
Semantic Segmentation", ICCV 2019 (spatial); Fu et al., "Dual Attention Network for Scene
Segmentation", CVPR 2019 (channel attention, Eq. 3-4); the temporal attention is the channel form
applied with the sub-streams as channels.

Pure PyTorch. The criss-cross attention never builds the (H+W)-wide joint softmax: its column and
row halves are evaluated separately (in chunks that bound memory at full 250 x 400 resolution) and
merged exactly with their log-sum-exp weights, the way blockwise ("flash") attention merges blocks.
Energies and softmax run in float32 also under bf16 autocast.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import pointwise

CHUNK_ELEMENTS = 1 << 20
"""Elements of one energy block of the criss-cross attention (4 MiB in float32): small enough to
stay in cache between the softmax passes, which is what bounds its speed on a CPU."""


EXP_FLOOR = -87.0
"""Softmax exponents e - max(e) are floored here before exp: exp(-87) ~ 1.6e-38 is the smallest
normal float32, invisible next to the max term 1, while the exp kernel runs ~20x slower on inputs
far below it (its underflow path). Masked positions (-inf) thus weigh 1.6e-38 instead of 0."""


def _full_precision(device: torch.device):
    """A context without autocast on ``device`` (no-op on devices autocast does not know)."""
    if device.type in ("cpu", "cuda"):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def _exact(dtype: torch.dtype) -> torch.dtype:
    """float32, or float64 when the input is float64 (never a reduced precision)."""
    return torch.promote_types(dtype, torch.float32)


def _axis_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask_self: bool):
    """Attention along the positions of independent lines, left unnormalised.

    Args:
        q, k: (L, S, d) queries and keys of L lines of S positions; v: (L, S, C).
        mask_self: exclude position s from the keys of query s.

    Returns:
        (m, s, o): per-query max energy (L, S), sum of exp(e - m) (L, S), and the unnormalised
        output sum_j exp(e_j - m) v_j (L, S, C); float32 (float64 for float64 inputs).

    With autograd on (training crops) all lines go in one differentiable pass. Without it
    (inference) lines go in chunks of about ``CHUNK_ELEMENTS`` energies through one reused
    buffer, updated in place: fresh large buffers cost more in page faults than the arithmetic.
    Exponents are floored at ``EXP_FLOOR``.
    """
    n_lines, size = q.shape[:2]
    dtype = _exact(q.dtype)
    q, k, v = q.to(dtype), k.to(dtype).transpose(1, 2), v.to(dtype)
    # the result does not depend on m (it cancels), so it carries no gradient; a line whose only
    # key is masked (length-1 columns) gets m = -max_float, p = 0, s = 0
    lowest = torch.finfo(dtype).min
    if torch.is_grad_enabled():
        e = torch.bmm(q, k)
        if mask_self:
            e.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        m = e.detach().amax(dim=-1, keepdim=True).clamp_min_(lowest)
        p = torch.exp((e - m).clamp_min(EXP_FLOOR))
        return m.squeeze(-1), p.sum(dim=-1), torch.bmm(p, v)
    step = max(1, min(n_lines, CHUNK_ELEMENTS // (size * size)))
    buf = q.new_empty((step, size, size))
    m_all, s_all = q.new_empty((n_lines, size)), q.new_empty((n_lines, size))
    o_all = q.new_empty((n_lines, size, v.shape[-1]))
    for a in range(0, n_lines, step):
        n = min(step, n_lines - a)
        e = torch.bmm(q[a:a + n], k[a:a + n], out=buf[:n])
        if mask_self:
            e.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        m = e.amax(dim=-1, keepdim=True).clamp_min_(lowest)
        e.sub_(m).clamp_min_(EXP_FLOOR).exp_()
        m_all[a:a + n] = m.squeeze(-1)
        torch.sum(e, dim=-1, out=s_all[a:a + n])
        torch.bmm(e, v[a:a + n], out=o_all[a:a + n])
    return m_all, s_all, o_all


class CrissCrossAttention(nn.Module):
    """Criss-cross attention (CCNet), one pass: (N, C, H, W) -> (N, C, H, W).

    Each pixel attends to the H + W - 1 pixels of its column and row (itself counted once):
    q, k = 1x1 convs C -> C/8, v = 1x1 conv C -> C, A = softmax over those positions of q.k,
    out = gamma * sum A v + x, gamma a learnable scalar initialised to 0.
    """

    def __init__(self, channels: int = 32, reduction: int = 8):
        super().__init__()
        self.q = nn.Conv2d(channels, channels // reduction, 1)
        self.k = nn.Conv2d(channels, channels // reduction, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # q, k, v from one matrix product, as (N, H, W, ch) views; softmax and products in
        # float32 even under autocast
        convs = (self.q, self.k, self.v)
        qkv = pointwise(x, torch.cat([f.weight for f in convs]), torch.cat([f.bias for f in convs]))
        q, k, v = qkv.permute(0, 2, 3, 1).split([f.out_channels for f in convs], dim=-1)
        with _full_precision(x.device):
            out = self._attend(q, k, v)
        return self.gamma.to(x.dtype) * out.to(x.dtype) + x

    @staticmethod
    def _attend(q, k, v):
        """Criss-cross attention output (N, C, H, W) from (N, H, W, ch) queries, keys, values."""
        n, h, w = q.shape[:3]
        # columns: lines (N*W) of H positions, self excluded (counted in the row half)
        col = _axis_attention(*(t.transpose(1, 2).reshape(n * w, h, -1) for t in (q, k, v)),
                              mask_self=True)
        mh, sh, oh = (t.reshape(n, w, h, *t.shape[2:]).transpose(1, 2) for t in col)
        # rows: lines (N*H) of W positions
        row = _axis_attention(*(t.reshape(n * h, w, -1) for t in (q, k, v)), mask_self=False)
        mw, sw, ow = (t.reshape(n, h, w, *t.shape[2:]) for t in row)
        top = torch.maximum(mh, mw)
        ah, aw = torch.exp(mh - top), torch.exp(mw - top)
        out = (oh * ah[..., None] + ow * aw[..., None]) / (sh * ah + sw * aw)[..., None]
        return out.permute(0, 3, 1, 2)


class ChannelAttention(nn.Module):
    """DANet channel attention: (N, C, H, W) -> (N, C, H, W).

    E = X X^T over channels (X = x as (N, C, H*W)), A = softmax(rowmax(E) - E), out = gamma * A X
    + x, gamma learnable, initialised to 0. No parameters besides gamma, so any C works; the
    temporal attention is this module applied with frames as channels.
    """

    def __init__(self):
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        with _full_precision(x.device):
            flat = x.reshape(n, c, -1).to(_exact(x.dtype))
            energy = torch.bmm(flat, flat.transpose(1, 2))
            attn = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
            out = torch.bmm(attn, flat).reshape(x.shape).to(x.dtype)
        return self.gamma.to(x.dtype) * out + x


def _conv_relu(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.ReLU(inplace=True))


class NonLocalAttention(nn.Module):
    """NLA over sub-stream features: (B, T, C, H, W) -> (B, T, C, H, W).

    out = x + conv1x1( S(x) + Ch(x) + Tm(x) ) with
    S: conv3x3+ReLU, criss-cross attention applied twice (shared weights), conv3x3+ReLU;
    Ch: conv3x3+ReLU, channel attention, conv3x3+ReLU (each sub-stream on its C channels);
    Tm: the same with the T sub-streams as channels (per feature channel);
    3x3 convs zero-padded, no bias; the final 1x1 conv has a bias.

    S and Ch see one sub-stream at a time (:meth:`streamwise`), only Tm and the final sum mix
    them (:meth:`merge`): a sequence of windows whose sub-streams overlap computes S + Ch once
    per sub-stream (``ssml.sequence``).
    """

    def __init__(self, channels: int = 32, frames: int = 3, recurrence: int = 2):
        super().__init__()
        self.recurrence = recurrence
        self.spatial_in, self.spatial_out = _conv_relu(channels), _conv_relu(channels)
        self.cca = CrissCrossAttention(channels)
        self.channel_in, self.channel_out = _conv_relu(channels), _conv_relu(channels)
        self.channel = ChannelAttention()
        self.temporal_in, self.temporal_out = _conv_relu(frames), _conv_relu(frames)
        self.temporal = ChannelAttention()
        self.fuse = nn.Conv2d(channels, channels, 1, bias=True)

    def streamwise(self, x: torch.Tensor) -> torch.Tensor:
        """S(x) + Ch(x) of sub-stream features x: (N, C, H, W) -> (N, C, H, W), N independent."""
        s = self.spatial_in(x)
        for _ in range(self.recurrence):
            s = self.cca(s)
        s = self.spatial_out(s)
        return s + self.channel_out(self.channel(self.channel_in(x)))

    def merge(self, x: torch.Tensor, streamwise: torch.Tensor) -> torch.Tensor:
        """The output from x (B, T, C, H, W) and its :meth:`streamwise` terms (B, T, C, H, W)."""
        b, t, c, h, w = x.shape
        # frames as channels; channels-last: a 3-channel conv on strided planes is ~3x slower
        tm = x.transpose(1, 2).reshape(b * c, t, h, w).contiguous(memory_format=torch.channels_last)
        tm = self.temporal_out(self.temporal(self.temporal_in(tm)))
        s = streamwise.reshape(b * t, c, h, w) + tm.reshape(b, c, t, h, w).transpose(1, 2).reshape(b * t, c, h, w)
        return x + pointwise(s, self.fuse.weight, self.fuse.bias).reshape(b, t, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c, h, w = x.shape
        return self.merge(x, self.streamwise(x.reshape(b * t, c, h, w)).reshape(b, t, c, h, w))
